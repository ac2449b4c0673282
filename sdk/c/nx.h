/*
 * nx.h - the Numax host ABI for C, C++ and Zig guests.
 *
 * Every function of docs/host-abi.md, imported from module "nx" with its exact
 * WebAssembly type: pointers and lengths are i32 (read as unsigned), counters
 * and cursors i64. Results >= 0 are success (often a byte count); negative
 * results are the NX_ERR_* codes below.
 *
 * Build a guest as a WASI reactor that exports `run`:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 \
 *         -Wl,--export=run -o app.wasm app.c
 *
 * (wasm32-wasi is called wasm32-wasip1 by newer toolchains.) A bare wasm32
 * module without WASI or libc runs as well; this header needs only the
 * compiler's own <stdint.h> and <stddef.h>:
 *
 *   clang --target=wasm32 -nostdlib -O2 -Wl,--no-entry \
 *         -Wl,--export=run -o app.wasm app.c
 *
 * List outputs (scans, sets, map entries, peers) use little-endian u32 counts
 * and lengths; nx_u32le() reads one.
 */
#ifndef NX_H
#define NX_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NX_OK                    0
#define NX_ERR_NOT_FOUND        -1
#define NX_ERR_BUFFER_TOO_SMALL -2
#define NX_ERR_INTERNAL         -3
#define NX_ERR_RESERVED_KEY     -4
#define NX_ERR_SYNC_DISABLED    -5

#define NX_LOG_TRACE 0
#define NX_LOG_DEBUG 1
#define NX_LOG_INFO  2
#define NX_LOG_WARN  3
#define NX_LOG_ERROR 4

/* Default limits (a node's [limits] may differ). */
#define NX_MAX_KEY        (8u * 1024u)
#define NX_MAX_VALUE      (1024u * 1024u)
#define NX_MAX_OUTPUT     (10u * 1024u * 1024u)
#define NX_MAX_SCAN_LIMIT 1024u
#define NX_MAX_LOG        (64u * 1024u)
#define NX_RESERVED_PREFIX "__nx/"

#define NX_IMPORT(name) __attribute__((import_module("nx"), import_name(#name)))

/* Logging */
NX_IMPORT(host_log) void nx_host_log(const uint8_t *msg, uint32_t len);
NX_IMPORT(host_log_v2) void nx_host_log_v2(int32_t level, const uint8_t *msg, uint32_t len);
/*
 * The original runtime's form of host_log_v2, for C code ported from it:
 * (msg, len) -> i32, logged at info level; NX_OK, or NX_ERR_INTERNAL when the
 * range cannot be read or the message is over the log limit (nothing is
 * logged; the levelled form truncates instead). The host binds whichever
 * form a module imports, so a module may call nx_host_log_v2 or
 * nx_host_log_v2_original but not both (both import "host_log_v2"; wasm-ld
 * links such a module, but calls of the second form trap with "signature
 * mismatch").
 */
NX_IMPORT(host_log_v2) int32_t nx_host_log_v2_original(const uint8_t *msg, uint32_t len);

/* Local key/value store (never replicated) */
NX_IMPORT(db_get) int32_t nx_db_get(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(db_set) int32_t nx_db_set(const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len);
NX_IMPORT(db_delete) int32_t nx_db_delete(const uint8_t *key, uint32_t key_len);
NX_IMPORT(db_exists) int32_t nx_db_exists(const uint8_t *key, uint32_t key_len);
NX_IMPORT(db_scan) int32_t nx_db_scan(const uint8_t *prefix, uint32_t prefix_len, uint64_t cursor,
                                      uint32_t limit, uint8_t *out, uint32_t out_cap);
NX_IMPORT(db_keys) int32_t nx_db_keys(const uint8_t *prefix, uint32_t prefix_len, uint64_t cursor,
                                      uint32_t limit, uint8_t *out, uint32_t out_cap);
NX_IMPORT(db_scan_after) int32_t nx_db_scan_after(const uint8_t *prefix, uint32_t prefix_len,
                                                  const uint8_t *after, uint32_t after_len,
                                                  uint32_t limit, uint8_t *out, uint32_t out_cap);
NX_IMPORT(db_keys_after) int32_t nx_db_keys_after(const uint8_t *prefix, uint32_t prefix_len,
                                                  const uint8_t *after, uint32_t after_len,
                                                  uint32_t limit, uint8_t *out, uint32_t out_cap);

/* Time, crypto, system */
NX_IMPORT(time_now) uint64_t nx_time_now(void);
NX_IMPORT(time_monotonic) uint64_t nx_time_monotonic(void);
NX_IMPORT(random_bytes) int32_t nx_random_bytes(uint8_t *out, uint32_t n);
NX_IMPORT(hash_sha256) int32_t nx_hash_sha256(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(hash_blake3) int32_t nx_hash_blake3(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(env_get) int32_t nx_env_get(const uint8_t *name, uint32_t name_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(module_id) int32_t nx_module_id(uint8_t *out, uint32_t out_cap);
NX_IMPORT(host_capabilities) int32_t nx_host_capabilities(uint8_t *out, uint32_t out_cap);
NX_IMPORT(event_emit) int32_t nx_event_emit(const uint8_t *name, uint32_t name_len,
                                            const uint8_t *payload, uint32_t payload_len);
NX_IMPORT(abort) __attribute__((noreturn)) void nx_abort(const uint8_t *msg, uint32_t len);
NX_IMPORT(net_node_id) int32_t nx_net_node_id(uint8_t *out, uint32_t out_cap);
NX_IMPORT(net_peers) int32_t nx_net_peers(uint8_t *out, uint32_t out_cap);

/* Replicated CRDTs (NX_ERR_SYNC_DISABLED on a node without sync) */
NX_IMPORT(crdt_gcounter_inc) int32_t nx_crdt_gcounter_inc(const uint8_t *key, uint32_t key_len, uint64_t delta);
NX_IMPORT(crdt_gcounter_value) int32_t nx_crdt_gcounter_value(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_pncounter_inc) int32_t nx_crdt_pncounter_inc(const uint8_t *key, uint32_t key_len, uint64_t delta);
NX_IMPORT(crdt_pncounter_dec) int32_t nx_crdt_pncounter_dec(const uint8_t *key, uint32_t key_len, uint64_t delta);
NX_IMPORT(crdt_pncounter_value) int32_t nx_crdt_pncounter_value(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_lww_set) int32_t nx_crdt_lww_set(const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len);
NX_IMPORT(crdt_lww_get) int32_t nx_crdt_lww_get(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_lww_map_set) int32_t nx_crdt_lww_map_set(const uint8_t *key, uint32_t key_len, const uint8_t *field,
                                                        uint32_t field_len, const uint8_t *val, uint32_t val_len);
NX_IMPORT(crdt_lww_map_remove) int32_t nx_crdt_lww_map_remove(const uint8_t *key, uint32_t key_len,
                                                              const uint8_t *field, uint32_t field_len);
NX_IMPORT(crdt_lww_map_get) int32_t nx_crdt_lww_map_get(const uint8_t *key, uint32_t key_len, const uint8_t *field,
                                                        uint32_t field_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_lww_map_contains) int32_t nx_crdt_lww_map_contains(const uint8_t *key, uint32_t key_len,
                                                                  const uint8_t *field, uint32_t field_len);
NX_IMPORT(crdt_lww_map_entries) int32_t nx_crdt_lww_map_entries(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_orset_add) int32_t nx_crdt_orset_add(const uint8_t *key, uint32_t key_len, const uint8_t *elem, uint32_t elem_len);
NX_IMPORT(crdt_orset_remove) int32_t nx_crdt_orset_remove(const uint8_t *key, uint32_t key_len, const uint8_t *elem, uint32_t elem_len);
NX_IMPORT(crdt_orset_contains) int32_t nx_crdt_orset_contains(const uint8_t *key, uint32_t key_len, const uint8_t *elem, uint32_t elem_len);
NX_IMPORT(crdt_orset_elements) int32_t nx_crdt_orset_elements(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_rga_insert) int32_t nx_crdt_rga_insert(const uint8_t *key, uint32_t key_len, const uint8_t *parent,
                                                      uint32_t parent_len, const uint8_t *val, uint32_t val_len,
                                                      uint8_t *out_id, uint32_t out_id_cap);
NX_IMPORT(crdt_rga_delete) int32_t nx_crdt_rga_delete(const uint8_t *key, uint32_t key_len, const uint8_t *id, uint32_t id_len);
NX_IMPORT(crdt_rga_values) int32_t nx_crdt_rga_values(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_rga_elements) int32_t nx_crdt_rga_elements(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
/* Paged readers: a page costs its own elements, whatever the object's size. */
NX_IMPORT(crdt_lww_map_scan) int32_t nx_crdt_lww_map_scan(const uint8_t *key, uint32_t key_len, const uint8_t *after,
                                                          uint32_t after_len, uint32_t limit, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_orset_scan) int32_t nx_crdt_orset_scan(const uint8_t *key, uint32_t key_len, const uint8_t *after,
                                                      uint32_t after_len, uint32_t limit, uint8_t *out, uint32_t out_cap);
NX_IMPORT(crdt_rga_slice) int32_t nx_crdt_rga_slice(const uint8_t *key, uint32_t key_len, int64_t from, int64_t count,
                                                    uint8_t *out, uint32_t out_cap);
/* Text: a sequence of code points edited by position (docs/host-abi.md). */
NX_IMPORT(crdt_text_insert) int32_t nx_crdt_text_insert(const uint8_t *key, uint32_t key_len, int64_t index,
                                                        const uint8_t *s, uint32_t s_len);
NX_IMPORT(crdt_text_delete) int32_t nx_crdt_text_delete(const uint8_t *key, uint32_t key_len, int64_t index, int64_t count);
NX_IMPORT(crdt_text_len) int64_t nx_crdt_text_len(const uint8_t *key, uint32_t key_len);
NX_IMPORT(crdt_text_read) int32_t nx_crdt_text_read(const uint8_t *key, uint32_t key_len, int64_t from, int64_t count,
                                                    uint8_t *out, uint32_t out_cap);

/*
 * Serving (docs/serving.md). A service module exports at least one of
 * on_request, on_change, on_tick, on_peer (all void(void)), and optionally
 * init and shutdown, e.g.
 *   __attribute__((export_name("on_request"))) void on_request(void) { ... }
 * http_request, changes and peer_event answer NX_ERR_INTERNAL outside the
 * handler they belong to.
 */
NX_IMPORT(http_request) int32_t nx_http_request(uint8_t *out, uint32_t out_cap);
NX_IMPORT(http_respond) int32_t nx_http_respond(int32_t status, const uint8_t *headers, uint32_t headers_len,
                                                const uint8_t *body, uint32_t body_len);
NX_IMPORT(changes) int32_t nx_changes(uint8_t *out, uint32_t out_cap);
NX_IMPORT(peer_event) int32_t nx_peer_event(uint8_t *out, uint32_t out_cap);
NX_IMPORT(http_fetch) int32_t nx_http_fetch(const uint8_t *req, uint32_t req_len, uint8_t *out, uint32_t out_cap);

#undef NX_IMPORT

/* Helpers */

/* nx_u32le reads a little-endian u32 of the list encodings. */
static inline uint32_t nx_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline size_t nx__strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* nx_log logs a NUL-terminated string at level. */
static inline void nx_log(int32_t level, const char *msg) {
    nx_host_log_v2(level, (const uint8_t *)msg, (uint32_t)nx__strlen(msg));
}

/* nx_abort_str stops the guest with a NUL-terminated message. */
static inline __attribute__((noreturn)) void nx_abort_str(const char *msg) {
    nx_abort((const uint8_t *)msg, (uint32_t)nx__strlen(msg));
}

/* The CRDT type bytes of the changes list. */
#define NX_TYPE_GCOUNTER     1
#define NX_TYPE_PNCOUNTER    2
#define NX_TYPE_LWW_REGISTER 3
#define NX_TYPE_LWW_MAP      4
#define NX_TYPE_ORSET        5
#define NX_TYPE_RGA          6
#define NX_TYPE_TEXT         7

/*
 * nx_request is a decoded request: pointers into the buffer given to
 * nx_request_parse, which must outlive it.
 */
typedef struct {
    const uint8_t *method, *target, *headers, *body;
    uint32_t method_len, target_len, header_count, body_len;
} nx_request;

/* nx__take reads a u32 length and a span; 0 when it overruns the end. */
static inline int nx__take(const uint8_t **p, const uint8_t *end, const uint8_t **span, uint32_t *len) {
    if (end - *p < 4) return 0;
    uint32_t n = nx_u32le(*p);
    *p += 4;
    if ((uint32_t)(end - *p) < n) return 0;
    *span = *p;
    *len = n;
    *p += n;
    return 1;
}

/* nx_request_parse decodes the http_request encoding; 0 if malformed. */
static inline int nx_request_parse(const uint8_t *buf, uint32_t len, nx_request *r) {
    const uint8_t *p = buf, *end = buf + len, *span;
    uint32_t n;
    if (!nx__take(&p, end, &r->method, &r->method_len)) return 0;
    if (!nx__take(&p, end, &r->target, &r->target_len)) return 0;
    if (end - p < 4) return 0;
    r->header_count = nx_u32le(p);
    p += 4;
    r->headers = p;
    for (uint32_t i = 0; i < r->header_count; i++) {
        if (!nx__take(&p, end, &span, &n) || !nx__take(&p, end, &span, &n)) return 0;
    }
    if (!nx__take(&p, end, &r->body, &r->body_len)) return 0;
    return p == end;
}

/* nx__eq compares a span with a NUL-terminated string. */
static inline int nx__eq(const uint8_t *a, uint32_t n, const char *s) {
    uint32_t i = 0;
    for (; i < n; i++)
        if (s[i] == 0 || (char)a[i] != s[i]) return 0;
    return s[i] == 0;
}

/* nx_request_is reports whether the request is METHOD on exactly PATH (the
 * target up to any '?'). */
static inline int nx_request_is(const nx_request *r, const char *method, const char *path) {
    uint32_t n = 0;
    while (n < r->target_len && r->target[n] != '?') n++;
    return nx__eq(r->method, r->method_len, method) && nx__eq(r->target, n, path);
}

/* nx_request_header finds the first header called name (lower-case); 1 and
 * its value, or 0. */
static inline int nx_request_header(const nx_request *r, const char *name, const uint8_t **value, uint32_t *value_len) {
    const uint8_t *p = r->headers, *end = r->body, *k;
    uint32_t kn;
    for (uint32_t i = 0; i < r->header_count; i++) {
        nx__take(&p, end, &k, &kn);
        nx__take(&p, end, value, value_len);
        if (nx__eq(k, kn, name)) return 1;
    }
    return 0;
}

/* nx_respond answers with status, one Content-Type header and a body. */
static inline int32_t nx_respond(int32_t status, const char *content_type, const uint8_t *body, uint32_t body_len) {
    uint8_t h[4 + 4 + 12 + 4 + 128];
    uint32_t ct = (uint32_t)nx__strlen(content_type);
    if (ct > 128) ct = 128;
    const char *name = "content-type";
    uint8_t *p = h;
    p[0] = 1; p[1] = p[2] = p[3] = 0; p += 4;
    p[0] = 12; p[1] = p[2] = p[3] = 0; p += 4;
    for (int i = 0; i < 12; i++) *p++ = (uint8_t)name[i];
    p[0] = (uint8_t)ct; p[1] = (uint8_t)(ct >> 8); p[2] = p[3] = 0; p += 4;
    for (uint32_t i = 0; i < ct; i++) *p++ = (uint8_t)content_type[i];
    return nx_http_respond(status, h, (uint32_t)(p - h), body, body_len);
}

/* nx_respond_str answers with status and a text/plain body. */
static inline int32_t nx_respond_str(int32_t status, const char *body) {
    return nx_respond(status, "text/plain; charset=utf-8", (const uint8_t *)body, (uint32_t)nx__strlen(body));
}

/* nx_emit_str publishes an event (to /_nx/events) with a string payload. */
static inline int32_t nx_emit_str(const char *name, const char *payload) {
    return nx_event_emit((const uint8_t *)name, (uint32_t)nx__strlen(name), (const uint8_t *)payload,
                         (uint32_t)nx__strlen(payload));
}

#ifdef __cplusplus
}
#endif

#endif /* NX_H */
