// compat: a guest as the original Numax runtime's users wrote them. It
// imports the original's signatures (original_nx.h: 2-argument host_log_v2)
// and nothing from sdk/c. Built twice by the tests:
//   - bare wasm32 (wasm32-unknown-unknown): no WASI imports, no libc; exports
//     run, memory, __data_end and __heap_base, as Rust and Zig toolchains do;
//   - wasm32-wasi (wasm32-wasip1): with wasi-libc, also printing through WASI.
// It reports each check through host_log_v2 as "compat PASS <name>" or
// "compat FAIL <name>: got X want Y", then "compat SUMMARY checks=N fails=M",
// and aborts when a check failed. NX_COMPAT_DELTA (default 1) is what it adds
// to the replicated counter "compat.visits" and names its ORSet element, so
// two nodes with different deltas converge to a known state.
#include <stdint.h>

#include "original_nx.h"

#ifdef __wasi__
#include <stdio.h>
#include <string.h>
#else
// Freestanding: the compiler may emit calls to these for loops and copies.
void *memset(void *d, int c, unsigned long n) {
    unsigned char *p = d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, unsigned long n) {
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--) *p++ = *q++;
    return d;
}
int memcmp(const void *a, const void *b, unsigned long n) {
    const unsigned char *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q) return *p - *q;
    return 0;
}
unsigned long strlen(const char *s) {
    unsigned long n = 0;
    while (s[n]) n++;
    return n;
}
#endif

#define P(x) ((uint32_t)(uintptr_t)(x))
#define S(s) P(s), (uint32_t)strlen(s)

#define LOG_LIMIT (64u * 1024u)
#define KEY_LIMIT (8u * 1024u)

static int checks, fails;
static char line[256];
static uint8_t out[4096];
static uint8_t big[LOG_LIMIT + 1];

static char *put_str(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

static char *put_int(char *p, long long v) {
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
    if (v < 0) *p++ = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n) *p++ = tmp[--n];
    return p;
}

static void say(const char *s) {
    int32_t rc = host_log_v2(S(s));
    if (rc != 0) {
        static const char msg[] = "compat: host_log_v2 did not return 0";
        abort_guest(P(msg), sizeof msg - 1);
    }
}

static void check(const char *name, long long got, long long want) {
    checks++;
    char *p = line;
    if (got == want) {
        p = put_str(p, "compat PASS ");
        p = put_str(p, name);
    } else {
        fails++;
        p = put_str(p, "compat FAIL ");
        p = put_str(p, name);
        p = put_str(p, ": got ");
        p = put_int(p, got);
        p = put_str(p, " want ");
        p = put_int(p, want);
    }
    *p = 0;
    say(line);
}

static uint32_t u32le(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t u64le(const uint8_t *b) { return (uint64_t)u32le(b) | (uint64_t)u32le(b + 4) << 32; }

// contains reports whether the n bytes at h hold the string s.
static int contains(const uint8_t *h, int32_t n, const char *s) {
    int32_t m = (int32_t)strlen(s);
    for (int32_t i = 0; i + m <= n; i++)
        if (memcmp(h + i, s, (unsigned long)m) == 0) return 1;
    return 0;
}

static uint64_t delta(void) {
    uint8_t v[8];
    int32_t n = env_get(S("NX_COMPAT_DELTA"), P(v), sizeof v);
    if (n <= 0) return 1;
    uint64_t d = 0;
    for (int32_t i = 0; i < n; i++) d = d * 10 + (uint64_t)(v[i] - '0');
    return d;
}

static void check_log(void) {
    check("host_log_v2 returns 0", host_log_v2(S("compat: hello from an original guest")), 0);
    memset(big, 'x', sizeof big);
    check("host_log_v2 at the limit", host_log_v2(P(big), LOG_LIMIT), 0);
    check("host_log_v2 over the limit is -3", host_log_v2(P(big), LOG_LIMIT + 1), -3);
    check("host_log_v2 outside memory is -3", host_log_v2(0xFFFFFFF0u, 64), -3);
    host_log(S("compat: legacy host_log"));
}

static void check_capabilities(void) {
    int32_t n = host_capabilities(P(out), sizeof out);
    check("host_capabilities answers", n > 0, 1);
    check("host_capabilities lists host_log_v2", contains(out, n, "host_log_v2\n"), 1);
    check("host_capabilities lists crdt_rga_insert", contains(out, n, "crdt_rga_insert"), 1);
    check("host_capabilities small buffer", host_capabilities(P(out), 4), -2);
}

static uint8_t key8k[KEY_LIMIT + 1];

static void check_db(void) {
    check("db_set", db_set(S("compat/a"), S("alpha")), 0);
    check("db_set second", db_set(S("compat/b"), S("beta")), 0);
    int32_t n = db_get(S("compat/a"), P(out), sizeof out);
    check("db_get length", n, 5);
    check("db_get value", memcmp(out, "alpha", 5), 0);
    check("db_get absent", db_get(S("compat/zz"), P(out), sizeof out), -1);
    check("db_get small buffer", db_get(S("compat/a"), P(out), 2), -2);
    check("db_exists", db_exists(S("compat/b")), 1);
    n = db_scan(S("compat/"), 0, 10, P(out), sizeof out);
    check("db_scan rows", n > 0 ? (long long)u32le(out) : n, 2);
    n = db_keys_after(S("compat/"), S("compat/a"), 10, P(out), sizeof out);
    check("db_keys_after rows", n > 0 ? (long long)u32le(out) : n, 1);
    check("db_delete", db_delete(S("compat/b")), 0);
    check("db_exists after delete", db_exists(S("compat/b")), 0);
    check("reserved prefix", db_set(S("__nx/x"), S("v")), -4);
    // The original accepts keys up to 8 KiB.
    memset(key8k, 'k', sizeof key8k);
    check("db_set 8 KiB key", db_set(P(key8k), KEY_LIMIT, S("v")), 0);
    check("db_get 8 KiB key", db_get(P(key8k), KEY_LIMIT, P(out), sizeof out), 1);
    check("db_set 8 KiB + 1 key is -3", db_set(P(key8k), KEY_LIMIT + 1, S("v")), -3);
}

static void check_system(void) {
    check("time_now is after 2020", time_now() > 1577836800000ull, 1);
    check("random_bytes", random_bytes(P(out), 16), 16);
    check("hash_sha256", hash_sha256(S("abc"), P(out), 32), 32);
    check("hash_sha256 first byte", out[0], 0xba);
}

static void check_crdts(uint64_t d) {
    uint8_t id[64], id2[64];
    int32_t n;

    check("gcounter_inc", crdt_gcounter_inc(S("compat.visits"), d), 0);
    check("gcounter_value", crdt_gcounter_value(S("compat.visits"), P(out), sizeof out), 8);
    check("gcounter counts own delta", u64le(out) >= d, 1);
    check("gcounter 8 KiB key", crdt_gcounter_inc(P(key8k), KEY_LIMIT, 1), 0);
    check("gcounter 8 KiB + 1 key is -3", crdt_gcounter_inc(P(key8k), KEY_LIMIT + 1, 1), -3);

    check("pncounter_inc", crdt_pncounter_inc(S("compat.balance"), 5), 0);
    check("pncounter_dec", crdt_pncounter_dec(S("compat.balance"), 2), 0);
    check("pncounter_value", crdt_pncounter_value(S("compat.balance"), P(out), sizeof out), 8);
    check("pncounter counts own ops", (long long)u64le(out) >= 3, 1);

    check("lww_set", crdt_lww_set(S("compat.title"), S("original")), 0);
    n = crdt_lww_get(S("compat.title"), P(out), sizeof out);
    check("lww_get", n, 8);
    check("lww_get value", memcmp(out, "original", 8), 0);

    check("lww_map_set", crdt_lww_map_set(S("compat.profile"), S("name"), S("ada")), 0);
    check("lww_map_set second", crdt_lww_map_set(S("compat.profile"), S("tmp"), S("x")), 0);
    check("lww_map_remove", crdt_lww_map_remove(S("compat.profile"), S("tmp")), 0);
    check("lww_map_contains", crdt_lww_map_contains(S("compat.profile"), S("name")), 1);
    check("lww_map_contains removed", crdt_lww_map_contains(S("compat.profile"), S("tmp")), 0);
    check("lww_map_get", crdt_lww_map_get(S("compat.profile"), S("name"), P(out), sizeof out), 3);
    n = crdt_lww_map_entries(S("compat.profile"), P(out), sizeof out);
    check("lww_map_entries", n > 0 ? (long long)u32le(out) : n, 1);

    char elem[] = "node-0";
    elem[5] = (char)('0' + d % 10);
    check("orset_add", crdt_orset_add(S("compat.members"), S(elem)), 0);
    check("orset_add temporary", crdt_orset_add(S("compat.members"), S("gone")), 0);
    check("orset_remove", crdt_orset_remove(S("compat.members"), S("gone")), 0);
    check("orset_contains", crdt_orset_contains(S("compat.members"), S(elem)), 1);
    check("orset_contains removed", crdt_orset_contains(S("compat.members"), S("gone")), 0);
    n = crdt_orset_elements(S("compat.members"), P(out), sizeof out);
    check("orset_elements", n > 0 && u32le(out) >= 1, 1);

    int32_t idn = crdt_rga_insert(S("compat.list"), 0, 0, S("first"), P(id), sizeof id);
    check("rga_insert at head", idn > 0, 1);
    int32_t idn2 = crdt_rga_insert(S("compat.list"), P(id), (uint32_t)idn, S("second"), P(id2), sizeof id2);
    check("rga_insert after", idn2 > 0, 1);
    check("rga_delete", crdt_rga_delete(S("compat.list"), P(id), (uint32_t)idn), 0);
    n = crdt_rga_values(S("compat.list"), P(out), sizeof out);
    check("rga_values", n > 0 && contains(out, n, "second") && !contains(out, n, "first"), 1);
}

__attribute__((export_name("run"))) void run(void) {
    uint64_t d = delta();
    check_log();
    check_capabilities();
    check_db();
    check_system();
    check_crdts(d);
    char *p = put_str(line, "compat SUMMARY checks=");
    p = put_int(p, checks);
    p = put_str(p, " fails=");
    p = put_int(p, fails);
    *p = 0;
    say(line);
#ifdef __wasi__
    printf("%s\n", line);
#endif
    if (fails) {
        static const char msg[] = "compat checks failed";
        abort_guest(P(msg), sizeof msg - 1);
    }
}
