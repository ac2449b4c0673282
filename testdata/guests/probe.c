// probe: the ABI conformance guest. It walks every code path of the local
// part of docs/host-abi.md and prints one line per check:
//   PASS <name>            or   FAIL <name>: got X want Y
// then "SUMMARY checks=N fails=M". With NX_PROBE_ABORT set it finally calls
// abort("probe abort"). The test sets NX_PROBE=conformance.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nx.h"

static int checks, fails;

static void check(const char *name, long long got, long long want) {
    checks++;
    if (got == want) {
        printf("PASS %s\n", name);
    } else {
        fails++;
        printf("FAIL %s: got %lld want %lld\n", name, got, want);
    }
}

#define S(s) (const uint8_t *)(s), (uint32_t)strlen(s)
#define OOB ((uint8_t *)0xFFFFFFF0u)

static uint8_t out[4096];
static uint8_t long_key[NX_MAX_KEY + 1];
static uint8_t big_value[NX_MAX_VALUE + 1];

// unchanged reports whether out still holds the 0xEE fill.
static int unchanged(uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (out[i] != 0xEE) return 0;
    return 1;
}
static void fill(void) { memset(out, 0xEE, sizeof out); }

static void probe_log(void);

static void probe_db(void) {
    check("db_set ok", nx_db_set(S("k1"), S("value-1")), NX_OK);
    check("db_set empty key", nx_db_set((const uint8_t *)"", 0, S("empty")), NX_OK);
    check("db_get ok", nx_db_get(S("k1"), out, sizeof out), 7);
    check("db_get empty key", nx_db_get((const uint8_t *)"", 0, out, sizeof out), 5);
    check("db_get absent", nx_db_get(S("absent"), out, sizeof out), NX_ERR_NOT_FOUND);
    fill();
    check("db_get small buffer", nx_db_get(S("k1"), out, 6), NX_ERR_BUFFER_TOO_SMALL);
    check("db_get small buffer wrote nothing", unchanged(16), 1);
    check("db_get retry larger", nx_db_get(S("k1"), out, 7), 7);
    check("db_get value", memcmp(out, "value-1", 7), 0);
    check("db_exists 1", nx_db_exists(S("k1")), 1);
    check("db_exists 0", nx_db_exists(S("absent")), 0);
    check("db_delete absent", nx_db_delete(S("absent")), NX_OK);

    // Reserved prefix on every key-taking call.
    check("db_get reserved", nx_db_get(S("__nx/a"), out, sizeof out), NX_ERR_RESERVED_KEY);
    check("db_set reserved", nx_db_set(S("__nx/a"), S("v")), NX_ERR_RESERVED_KEY);
    check("db_delete reserved", nx_db_delete(S("__nx/a")), NX_ERR_RESERVED_KEY);
    check("db_exists reserved", nx_db_exists(S("__nx/a")), NX_ERR_RESERVED_KEY);
    check("db_scan reserved prefix", nx_db_scan(S("__nx/"), 0, 10, out, sizeof out), NX_ERR_RESERVED_KEY);
    check("db_keys reserved prefix", nx_db_keys(S("__nx/x"), 0, 10, out, sizeof out), NX_ERR_RESERVED_KEY);
    check("db_scan_after reserved prefix", nx_db_scan_after(S("__nx/"), (const uint8_t *)"", 0, 10, out, sizeof out), NX_ERR_RESERVED_KEY);
    check("db_keys_after reserved cursor", nx_db_keys_after((const uint8_t *)"", 0, S("__nx/z"), 10, out, sizeof out), NX_ERR_RESERVED_KEY);
    check("db_scan_after reserved cursor", nx_db_scan_after((const uint8_t *)"", 0, S("__nx/z"), 10, out, sizeof out), NX_ERR_RESERVED_KEY);
    check("reserved key was not written", nx_db_exists(S("__nx/a")), NX_ERR_RESERVED_KEY);

    // Oversize arguments are -3, never -2, and come before the reserved check.
    memset(long_key, 'k', sizeof long_key);
    check("db_get key at limit ok", nx_db_get(long_key, NX_MAX_KEY, out, sizeof out), NX_ERR_NOT_FOUND);
    check("db_get key over limit", nx_db_get(long_key, NX_MAX_KEY + 1, out, sizeof out), NX_ERR_INTERNAL);
    check("db_set key over limit", nx_db_set(long_key, NX_MAX_KEY + 1, S("v")), NX_ERR_INTERNAL);
    check("db_delete key over limit", nx_db_delete(long_key, NX_MAX_KEY + 1), NX_ERR_INTERNAL);
    check("db_exists key over limit", nx_db_exists(long_key, NX_MAX_KEY + 1), NX_ERR_INTERNAL);
    check("db_set value 1MiB ok", nx_db_set(S("big"), big_value, NX_MAX_VALUE), NX_OK);
    check("db_set value 1MiB+1", nx_db_set(S("big2"), big_value, NX_MAX_VALUE + 1), NX_ERR_INTERNAL);
    check("oversize value not written", nx_db_exists(S("big2")), 0);
    uint8_t *huge = malloc(NX_MAX_OUTPUT + 1);
    check("db_get out_cap 10MiB+1", nx_db_get(S("k1"), huge, NX_MAX_OUTPUT + 1), NX_ERR_INTERNAL);
    check("db_get out_cap 10MiB ok", nx_db_get(S("k1"), huge, NX_MAX_OUTPUT), 7);
    free(huge);
    memcpy(long_key, "__nx/", 5);
    check("oversize before reserved", nx_db_get(long_key, NX_MAX_KEY + 1, out, sizeof out), NX_ERR_INTERNAL);
    check("db_delete big", nx_db_delete(S("big")), NX_OK);

    // Out-of-bounds pointers are -3 and never crash the host.
    check("db_get key oob", nx_db_get(OOB, 32, out, sizeof out), NX_ERR_INTERNAL);
    check("db_get out oob", nx_db_get(S("k1"), OOB, 64), NX_ERR_INTERNAL);
    check("db_set value oob", nx_db_set(S("k1"), OOB, 64), NX_ERR_INTERNAL);
    check("db_delete oob", nx_db_delete(OOB, 8), NX_ERR_INTERNAL);
    check("db_exists oob", nx_db_exists(OOB, 8), NX_ERR_INTERNAL);
    check("db_scan prefix oob", nx_db_scan(OOB, 4, 0, 10, out, sizeof out), NX_ERR_INTERNAL);
    check("db_scan_after cursor oob", nx_db_scan_after(S("k"), OOB, 4, 10, out, sizeof out), NX_ERR_INTERNAL);
    check("k1 unchanged after oob set", nx_db_get(S("k1"), out, sizeof out), 7);
}

static void probe_scan(void) {
    const char *keys[] = {"s/a", "s/b", "s/c", "t/a"};
    for (int i = 0; i < 4; i++) nx_db_set(S(keys[i]), S("v"));

    int32_t n = nx_db_keys(S("s/"), 0, 10, out, sizeof out);
    check("db_keys bytes", n, 4 + 3 * (4 + 3));
    check("db_keys count", nx_u32le(out), 3);
    n = nx_db_scan(S("s/"), 1, 1, out, sizeof out);
    check("db_scan offset 1 limit 1 bytes", n, 4 + 8 + 3 + 1);
    check("db_scan row key", memcmp(out + 12, "s/b", 3), 0);
    check("db_scan row value", out[15], 'v');
    check("db_scan past end", nx_db_scan(S("s/"), 99, 10, out, sizeof out), 4);
    check("db_scan past end count", nx_u32le(out), 0);
    n = nx_db_keys_after(S("s/"), S("s/a"), 10, out, sizeof out);
    check("db_keys_after count", nx_u32le(out), 2);
    n = nx_db_scan_after(S("s/"), S("s/b"), 10, out, sizeof out);
    check("db_scan_after count", nx_u32le(out), 1);
    check("db_scan_after key", memcmp(out + 12, "s/c", 3), 0);
    check("db_scan_after empty cursor", nx_db_keys_after(S("s/"), (const uint8_t *)"", 0, 10, out, sizeof out), 25);

    check("db_scan limit 0", nx_db_scan(S("s/"), 0, 0, out, sizeof out), NX_ERR_INTERNAL);
    check("db_scan limit 1025", nx_db_scan(S("s/"), 0, 1025, out, sizeof out), NX_ERR_INTERNAL);
    check("db_keys limit 0", nx_db_keys(S("s/"), 0, 0, out, sizeof out), NX_ERR_INTERNAL);
    check("db_keys limit 1025", nx_db_keys(S("s/"), 0, 1025, out, sizeof out), NX_ERR_INTERNAL);
    check("db_scan_after limit 0", nx_db_scan_after(S("s/"), (const uint8_t *)"", 0, 0, out, sizeof out), NX_ERR_INTERNAL);
    check("db_keys_after limit 1025", nx_db_keys_after(S("s/"), (const uint8_t *)"", 0, 1025, out, sizeof out), NX_ERR_INTERNAL);
    check("db_keys limit 1024 ok", nx_db_keys(S("s/"), 0, 1024, out, sizeof out), 25);
    check("db_scan_after cursor outside prefix", nx_db_scan_after(S("s/"), S("t/a"), 10, out, sizeof out), NX_ERR_INTERNAL);
    check("db_keys_after cursor outside prefix", nx_db_keys_after(S("s/"), S("a"), 10, out, sizeof out), NX_ERR_INTERNAL);
    fill();
    check("db_scan small buffer", nx_db_scan(S("s/"), 0, 10, out, 20), NX_ERR_BUFFER_TOO_SMALL);
    check("db_scan small buffer wrote nothing", unchanged(32), 1);
    check("db_scan retry larger", nx_db_scan(S("s/"), 0, 10, out, sizeof out), 4 + 3 * (8 + 3 + 1));
    check("db_keys out_cap 10MiB+1", nx_db_keys(S("s/"), 0, 10, out, NX_MAX_OUTPUT + 1), NX_ERR_INTERNAL);
}

static void probe_system(void) {
    uint64_t t = nx_time_now();
    check("time_now after 2024", t > 1704067200000ull, 1);
    uint64_t m1 = nx_time_monotonic(), m2 = nx_time_monotonic();
    check("time_monotonic never decreases", m2 >= m1, 1);

    check("random_bytes 32", nx_random_bytes(out, 32), 32);
    check("random_bytes 1MiB+1", nx_random_bytes(big_value, NX_MAX_VALUE + 1), NX_ERR_INTERNAL);
    check("random_bytes oob", nx_random_bytes(OOB, 64), NX_ERR_INTERNAL);

    fill();
    check("hash_sha256 into 31", nx_hash_sha256(S("abc"), out, 31), NX_ERR_BUFFER_TOO_SMALL);
    check("hash_sha256 into 31 wrote nothing", unchanged(32), 1);
    check("hash_sha256 into 32", nx_hash_sha256(S("abc"), out, 32), 32);
    check("hash_sha256 digest", out[0] == 0xba && out[1] == 0x78 && out[31] == 0xad, 1);
    check("hash_blake3 into 31", nx_hash_blake3(S("abc"), out, 31), NX_ERR_BUFFER_TOO_SMALL);
    check("hash_blake3 into 64", nx_hash_blake3(S("abc"), out, 64), 32);
    check("hash_blake3 digest", out[0] == 0x64 && out[1] == 0x37 && out[31] == 0x85, 1);
    check("hash_sha256 input 1MiB+1", nx_hash_sha256(big_value, NX_MAX_VALUE + 1, out, 32), NX_ERR_INTERNAL);
    check("hash_blake3 input oob", nx_hash_blake3(OOB, 64, out, 32), NX_ERR_INTERNAL);

    check("env_get NX_PROBE", nx_env_get(S("NX_PROBE"), out, sizeof out), 11);
    check("env_get NX_PROBE value", memcmp(out, "conformance", 11), 0);
    check("env_get NX_PROBE small", nx_env_get(S("NX_PROBE"), out, 4), NX_ERR_BUFFER_TOO_SMALL);
    check("env_get PATH", nx_env_get(S("PATH"), out, sizeof out), NX_ERR_NOT_FOUND);
    check("env_get HOME", nx_env_get(S("HOME"), out, sizeof out), NX_ERR_NOT_FOUND);
    check("env_get lowercase", nx_env_get(S("NX_probe"), out, sizeof out), NX_ERR_NOT_FOUND);
    check("env_get unset", nx_env_get(S("NX_PROBE_NEVER_SET"), out, sizeof out), NX_ERR_NOT_FOUND);
    check("env_get oob", nx_env_get(OOB, 8, out, sizeof out), NX_ERR_INTERNAL);

    int32_t n = nx_module_id(out, sizeof out);
    check("module_id ends in probe.wasm", n > 10 && memcmp(out + n - 10, "probe.wasm", 10) == 0, 1);
    check("module_id small", nx_module_id(out, 3), NX_ERR_BUFFER_TOO_SMALL);
    check("module_id oob", nx_module_id(OOB, 64), NX_ERR_INTERNAL);

    n = nx_host_capabilities(out, sizeof out);
    int lines = n > 0 ? 1 : 0;
    for (int i = 0; i < n; i++) lines += out[i] == '\n';
    check("host_capabilities names", lines, 54);
    check("host_capabilities starts sorted", memcmp(out, "abort\nchanges\ncrdt_gcounter_inc\n", 31), 0);
    check("host_capabilities no trailing newline", out[n - 1] != '\n', 1);
    check("host_capabilities small", nx_host_capabilities(out, 10), NX_ERR_BUFFER_TOO_SMALL);

    check("event_emit ok", nx_event_emit(S("probe.ok:1-a_b"), S("{}")), NX_OK);
    check("event_emit empty payload", nx_event_emit(S("probe.empty"), (const uint8_t *)"", 0), NX_OK);
    check("event_emit empty name", nx_event_emit((const uint8_t *)"", 0, S("{}")), NX_ERR_INTERNAL);
    check("event_emit bad char", nx_event_emit(S("bad name"), S("{}")), NX_ERR_INTERNAL);
    check("event_emit slash", nx_event_emit(S("a/b"), S("{}")), NX_ERR_INTERNAL);
    memset(long_key, 'e', 129);
    check("event_emit name 128 ok", nx_event_emit(long_key, 128, S("")), NX_OK);
    check("event_emit name 129", nx_event_emit(long_key, 129, S("")), NX_ERR_INTERNAL);
    check("event_emit payload 64KiB+1", nx_event_emit(S("probe.big"), big_value, 64 * 1024 + 1), NX_ERR_INTERNAL);
    check("event_emit oob", nx_event_emit(OOB, 8, S("")), NX_ERR_INTERNAL);

    check("net_node_id without sync", nx_net_node_id(out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("net_peers without sync", nx_net_peers(out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("net_node_id oob before sync", nx_net_node_id(OOB, 64), NX_ERR_INTERNAL);

    nx_host_log(OOB, 64);  // must not crash the host
    probe_log();
    check("logging with oob pointer survived", 1, 1);
}

// A module imports one form of host_log_v2; the test builds the probe once
// with each (-DPROBE_ORIGINAL_LOG for the original runtime's form).
#ifdef PROBE_ORIGINAL_LOG
static uint8_t big_log[NX_MAX_LOG + 1];

static void probe_log(void) {
    check("host_log_v2 original ok", nx_host_log_v2_original(S("probe log line")), NX_OK);
    check("host_log_v2 original empty", nx_host_log_v2_original((const uint8_t *)"", 0), NX_OK);
    memset(big_log, 'l', sizeof big_log);
    check("host_log_v2 original at limit", nx_host_log_v2_original(big_log, NX_MAX_LOG), NX_OK);
    check("host_log_v2 original over limit", nx_host_log_v2_original(big_log, NX_MAX_LOG + 1), NX_ERR_INTERNAL);
    check("host_log_v2 original oob", nx_host_log_v2_original(OOB, 64), NX_ERR_INTERNAL);
}
#else
static void probe_log(void) {
    nx_host_log_v2(NX_LOG_INFO, S("probe log line"));
    nx_host_log_v2(99, S("probe unknown level"));
    nx_host_log_v2(NX_LOG_WARN, OOB, 64);  // must not crash the host
}
#endif

// The serving functions of docs/serving.md from a job: outside their
// handlers they are -3, with bad buffers -3 first.
static void probe_serving(void) {
    static const uint8_t no_headers[4] = {0, 0, 0, 0};
    check("http_request outside on_request", nx_http_request(out, sizeof out), NX_ERR_INTERNAL);
    check("http_request oob", nx_http_request(OOB, 64), NX_ERR_INTERNAL);
    check("http_respond outside on_request", nx_http_respond(200, no_headers, 4, S("x")), NX_ERR_INTERNAL);
    check("http_respond bad status", nx_http_respond(42, no_headers, 4, S("x")), NX_ERR_INTERNAL);
    check("changes outside on_change", nx_changes(out, sizeof out), NX_ERR_INTERNAL);
    check("peer_event outside on_peer", nx_peer_event(out, sizeof out), NX_ERR_INTERNAL);
    check("http_fetch bad encoding", nx_http_fetch(S("nope"), out, sizeof out), NX_ERR_INTERNAL);
    check("http_fetch oob request", nx_http_fetch(OOB, 64, out, sizeof out), NX_ERR_INTERNAL);
    // A well-formed request to a host not in [serve] fetch_allow (empty).
    static uint8_t req[64];
    uint8_t *p = req;
    const char *url = "http://127.0.0.1:9/";
    uint32_t l = 3, ul = (uint32_t)strlen(url), z = 0;
    memcpy(p, &l, 4); p += 4; memcpy(p, "GET", 3); p += 3;
    memcpy(p, &ul, 4); p += 4; memcpy(p, url, ul); p += ul;
    memcpy(p, &z, 4); p += 4; memcpy(p, &z, 4); p += 4;
    check("http_fetch host not allowed", nx_http_fetch(req, (uint32_t)(p - req), out, sizeof out), NX_ERR_INTERNAL);
}

static void probe_crdt(void) {
    uint8_t id[64];
    const char *opid = "1@0123456789abcdef0123456789abcdef";
    // Without sync every valid call is -5; the reserved key is still -4 first.
    check("gcounter_inc", nx_crdt_gcounter_inc(S("c"), 1), NX_ERR_SYNC_DISABLED);
    check("gcounter_inc reserved", nx_crdt_gcounter_inc(S("__nx/c"), 1), NX_ERR_RESERVED_KEY);
    check("gcounter_value", nx_crdt_gcounter_value(S("c"), out, 8), NX_ERR_SYNC_DISABLED);
    check("gcounter_value reserved", nx_crdt_gcounter_value(S("__nx/c"), out, 8), NX_ERR_RESERVED_KEY);
    check("pncounter_inc", nx_crdt_pncounter_inc(S("c"), 1), NX_ERR_SYNC_DISABLED);
    check("pncounter_dec reserved", nx_crdt_pncounter_dec(S("__nx/c"), 1), NX_ERR_RESERVED_KEY);
    check("pncounter_dec", nx_crdt_pncounter_dec(S("c"), 1), NX_ERR_SYNC_DISABLED);
    check("pncounter_value", nx_crdt_pncounter_value(S("c"), out, 8), NX_ERR_SYNC_DISABLED);
    check("lww_set", nx_crdt_lww_set(S("r"), S("v")), NX_ERR_SYNC_DISABLED);
    check("lww_set reserved", nx_crdt_lww_set(S("__nx/r"), S("v")), NX_ERR_RESERVED_KEY);
    check("lww_set value 1MiB+1", nx_crdt_lww_set(S("r"), big_value, NX_MAX_VALUE + 1), NX_ERR_INTERNAL);
    check("lww_get", nx_crdt_lww_get(S("r"), out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("lww_map_set", nx_crdt_lww_map_set(S("m"), S("f"), S("v")), NX_ERR_SYNC_DISABLED);
    check("lww_map_set reserved", nx_crdt_lww_map_set(S("__nx/m"), S("f"), S("v")), NX_ERR_RESERVED_KEY);
    check("lww_map_remove", nx_crdt_lww_map_remove(S("m"), S("f")), NX_ERR_SYNC_DISABLED);
    check("lww_map_get", nx_crdt_lww_map_get(S("m"), S("f"), out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("lww_map_contains", nx_crdt_lww_map_contains(S("m"), S("f")), NX_ERR_SYNC_DISABLED);
    check("lww_map_entries", nx_crdt_lww_map_entries(S("m"), out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("lww_map_entries reserved", nx_crdt_lww_map_entries(S("__nx/m"), out, sizeof out), NX_ERR_RESERVED_KEY);
    check("orset_add", nx_crdt_orset_add(S("s"), S("e")), NX_ERR_SYNC_DISABLED);
    check("orset_remove", nx_crdt_orset_remove(S("s"), S("e")), NX_ERR_SYNC_DISABLED);
    check("orset_contains", nx_crdt_orset_contains(S("s"), S("e")), NX_ERR_SYNC_DISABLED);
    check("orset_elements", nx_crdt_orset_elements(S("s"), out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("orset_add reserved", nx_crdt_orset_add(S("__nx/s"), S("e")), NX_ERR_RESERVED_KEY);
    check("rga_insert head", nx_crdt_rga_insert(S("l"), (const uint8_t *)"", 0, S("v"), id, sizeof id), NX_ERR_SYNC_DISABLED);
    check("rga_insert after id", nx_crdt_rga_insert(S("l"), S(opid), S("v"), id, sizeof id), NX_ERR_SYNC_DISABLED);
    check("rga_insert bad parent", nx_crdt_rga_insert(S("l"), S("nope"), S("v"), id, sizeof id), NX_ERR_INTERNAL);
    check("rga_insert reserved", nx_crdt_rga_insert(S("__nx/l"), (const uint8_t *)"", 0, S("v"), id, sizeof id), NX_ERR_RESERVED_KEY);
    check("rga_delete", nx_crdt_rga_delete(S("l"), S(opid)), NX_ERR_SYNC_DISABLED);
    check("rga_delete bad id", nx_crdt_rga_delete(S("l"), S("0@x")), NX_ERR_INTERNAL);
    check("rga_values", nx_crdt_rga_values(S("l"), out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("rga_elements", nx_crdt_rga_elements(S("l"), out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("rga_elements reserved", nx_crdt_rga_elements(S("__nx/l"), out, sizeof out), NX_ERR_RESERVED_KEY);
    check("lww_map_scan", nx_crdt_lww_map_scan(S("m"), S(""), 10, out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("lww_map_scan limit 0", nx_crdt_lww_map_scan(S("m"), S(""), 0, out, sizeof out), NX_ERR_INTERNAL);
    check("orset_scan", nx_crdt_orset_scan(S("s"), S("a"), 10, out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("orset_scan oob", nx_crdt_orset_scan(S("s"), S("a"), 10, OOB, 64), NX_ERR_INTERNAL);
    check("rga_slice", nx_crdt_rga_slice(S("l"), 0, 10, out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("rga_slice negative", nx_crdt_rga_slice(S("l"), -5, 10, out, sizeof out), NX_ERR_INTERNAL);
    check("text_insert", nx_crdt_text_insert(S("t"), 0, S("hi")), NX_ERR_SYNC_DISABLED);
    check("text_insert negative index", nx_crdt_text_insert(S("t"), -1, S("hi")), NX_ERR_INTERNAL);
    check("text_insert bad UTF-8", nx_crdt_text_insert(S("t"), 0, S("\xff")), NX_ERR_INTERNAL);
    check("text_insert reserved", nx_crdt_text_insert(S("__nx/t"), 0, S("hi")), NX_ERR_RESERVED_KEY);
    check("text_delete", nx_crdt_text_delete(S("t"), 0, 1), NX_ERR_SYNC_DISABLED);
    check("text_delete negative count", nx_crdt_text_delete(S("t"), 0, -1), NX_ERR_INTERNAL);
    check("text_len", (int32_t)nx_crdt_text_len(S("t")), NX_ERR_SYNC_DISABLED);
    check("text_read", nx_crdt_text_read(S("t"), 0, 10, out, sizeof out), NX_ERR_SYNC_DISABLED);
    check("text_read oob", nx_crdt_text_read(S("t"), 0, 10, OOB, 64), NX_ERR_INTERNAL);
    check("crdt key over limit", nx_crdt_gcounter_inc(long_key, NX_MAX_KEY + 1, 1), NX_ERR_INTERNAL);
    check("crdt key invalid utf-8", nx_crdt_gcounter_inc((const uint8_t *)"\xff\xfe", 2, 1), NX_ERR_INTERNAL);
    check("crdt key oob", nx_crdt_gcounter_inc(OOB, 8, 1), NX_ERR_INTERNAL);
}

__attribute__((export_name("run"))) void run(void) {
    probe_db();
    probe_scan();
    probe_system();
    probe_crdt();
    probe_serving();
    printf("SUMMARY checks=%d fails=%d\n", checks, fails);
    fflush(stdout);
    if (nx_env_get(S("NX_PROBE_ABORT"), out, sizeof out) >= 0) {
        nx_abort_str("probe abort");
    }
}
