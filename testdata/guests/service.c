// service: a service module for the serving tests. Routes:
//   GET  /hello       200 "hello from the guest"
//   POST /echo        200, the request body back, with x-method and x-len
//   POST /hit         increments the GCounter "hits"; 200 and the new total
//   GET  /count       the GCounter "hits"
//   GET  /db?K        the local key K (init, ticks, peer, changes)
//   GET  /spin        loops forever (time limit: 504)
//   GET  /trap        traps (500)
//   GET  /grow        grows memory until refused, then traps (500)
//   GET  /noreply     returns without http_respond (500)
//   GET  /twice       responds twice; db "twice" holds the second call's code
//   GET  /outside     calls changes() and peer_event() outside their handlers
//   GET  /fetch       http_fetch of NX_FETCH_URL; the fetched body, or the code
//   POST /emit        event_emit("test.<body>", body)
//   GET  /bigheaders  a header list over the host's limit: the code
// init counts its calls in db "init"; on_tick in "ticks"; on_peer writes the
// last event to "peer"; on_change emits "hits.total" with the total whenever
// "hits" changed and counts the changed objects in "changes"; shutdown sets
// "shutdown"; every on_request counts itself in "requests".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nx.h"

static uint8_t req_buf[(1 << 20) + 65536];
static char out[512];

#define S(s) (const uint8_t *)(s), (uint32_t)strlen(s)

static void db_incr(const char *key) {
    uint8_t v[8] = {0};
    int32_t n = nx_db_get(S(key), v, sizeof v);
    uint64_t c = 0;
    if (n == 8) memcpy(&c, v, 8);
    c++;
    memcpy(v, &c, 8);
    nx_db_set(S(key), v, 8);
}

static uint64_t db_count(const uint8_t *key, uint32_t kn) {
    uint8_t v[8] = {0};
    uint64_t c = 0;
    if (nx_db_get(key, kn, v, sizeof v) == 8) memcpy(&c, v, 8);
    return c;
}

static uint64_t hits(void) {
    uint8_t v[8];
    uint64_t c = 0;
    if (nx_crdt_gcounter_value(S("hits"), v, 8) == 8) memcpy(&c, v, 8);
    return c;
}

__attribute__((export_name("init"))) void init(void) { db_incr("init"); }

__attribute__((export_name("shutdown"))) void shutdown(void) { nx_db_set(S("shutdown"), S("1")); }

__attribute__((export_name("on_tick"))) void on_tick(void) { db_incr("ticks"); }

__attribute__((export_name("on_peer"))) void on_peer(void) {
    uint8_t ev[256];
    int32_t n = nx_peer_event(ev, sizeof ev);
    if (n > 0) {
        char line[300];
        uint32_t idn = nx_u32le(ev + 1);
        snprintf(line, sizeof line, "%s %.*s", ev[0] ? "up" : "down", (int)idn, (const char *)ev + 5);
        nx_db_set(S("peer"), S(line));
    }
}

__attribute__((export_name("on_change"))) void on_change(void) {
    static uint8_t buf[1 << 16];
    int32_t n = nx_changes(buf, sizeof buf);
    if (n < 4) return;
    uint32_t count = nx_u32le(buf);
    const uint8_t *p = buf + 4;
    int hit = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t type = p[0];
        uint32_t kn = nx_u32le(p + 1);
        if (type == NX_TYPE_GCOUNTER && kn == 4 && memcmp(p + 5, "hits", 4) == 0) hit = 1;
        p += 5 + kn;
        db_incr("changes");
    }
    if (hit) {
        char total[32];
        snprintf(total, sizeof total, "%llu", (unsigned long long)hits());
        nx_emit_str("hits.total", total);
    }
}

static void respond_num(long long v) {
    snprintf(out, sizeof out, "%lld", v);
    nx_respond_str(200, out);
}

__attribute__((export_name("on_request"))) void on_request(void) {
    int32_t n = nx_http_request(req_buf, sizeof req_buf);
    nx_request r;
    db_incr("requests");
    if (n < 0 || !nx_request_parse(req_buf, (uint32_t)n, &r)) {
        nx_respond_str(400, "bad request encoding");
        return;
    }
    if (nx_request_is(&r, "GET", "/hello")) {
        nx_respond_str(200, "hello from the guest");
    } else if (nx_request_is(&r, "POST", "/echo")) {
        uint8_t h[256];
        uint8_t *p = h;
        char len[16];
        snprintf(len, sizeof len, "%u", r.body_len);
        const char *kv[4] = {"x-method", "", "x-len", len};
        char method[16] = {0};
        memcpy(method, r.method, r.method_len < 15 ? r.method_len : 15);
        kv[1] = method;
        p[0] = 2; p[1] = p[2] = p[3] = 0; p += 4;
        for (int i = 0; i < 4; i++) {
            uint32_t l = (uint32_t)strlen(kv[i]);
            p[0] = (uint8_t)l; p[1] = p[2] = p[3] = 0; p += 4;
            memcpy(p, kv[i], l); p += l;
        }
        nx_http_respond(200, h, (uint32_t)(p - h), r.body, r.body_len);
    } else if (nx_request_is(&r, "POST", "/hit")) {
        int32_t rc = nx_crdt_gcounter_inc(S("hits"), 1);
        if (rc != 0) {
            snprintf(out, sizeof out, "gcounter_inc: %d", rc);
            nx_respond_str(503, out);
            return;
        }
        respond_num((long long)hits());
    } else if (nx_request_is(&r, "GET", "/count")) {
        respond_num((long long)hits());
    } else if (nx_request_is(&r, "GET", "/db")) {
        const uint8_t *q = r.target;
        uint32_t i = 0;
        while (i < r.target_len && q[i] != '?') i++;
        if (i == r.target_len) { nx_respond_str(400, "want /db?KEY"); return; }
        const uint8_t *key = q + i + 1;
        uint32_t kn = r.target_len - i - 1;
        if (kn == 4 && memcmp(key, "peer", 4) == 0) {
            int32_t vn = nx_db_get(key, kn, (uint8_t *)out, sizeof out - 1);
            if (vn < 0) vn = 0;
            nx_respond(200, "text/plain", (const uint8_t *)out, (uint32_t)vn);
        } else if (kn == 8 && memcmp(key, "shutdown", 8) == 0) {
            respond_num(nx_db_exists(key, kn));
        } else {
            respond_num((long long)db_count(key, kn));
        }
    } else if (nx_request_is(&r, "GET", "/spin")) {
        for (volatile int i = 0;; i++) {
        }
    } else if (nx_request_is(&r, "GET", "/trap")) {
        __builtin_trap();
    } else if (nx_request_is(&r, "GET", "/grow")) {
        for (;;) {
            if (__builtin_wasm_memory_grow(0, 256) == (unsigned long)-1) __builtin_trap();
        }
    } else if (nx_request_is(&r, "GET", "/noreply")) {
        return;
    } else if (nx_request_is(&r, "GET", "/twice")) {
        nx_respond_str(200, "first");
        int32_t rc = nx_respond_str(200, "second");
        uint64_t v = (uint64_t)(int64_t)rc;
        nx_db_set(S("twice"), (const uint8_t *)&v, 8);
    } else if (nx_request_is(&r, "GET", "/outside")) {
        uint8_t b[64];
        snprintf(out, sizeof out, "changes=%d peer_event=%d", nx_changes(b, sizeof b), nx_peer_event(b, sizeof b));
        nx_respond_str(200, out);
    } else if (nx_request_is(&r, "GET", "/fetch")) {
        char url[256];
        int32_t un = nx_env_get(S("NX_FETCH_URL"), (uint8_t *)url, sizeof url - 1);
        if (un < 0) { nx_respond_str(500, "NX_FETCH_URL unset"); return; }
        static uint8_t req[512], resp[65536];
        uint8_t *p = req;
        uint32_t l = 3;
        memcpy(p, &l, 4); p += 4; memcpy(p, "GET", 3); p += 3;
        l = (uint32_t)un;
        memcpy(p, &l, 4); p += 4; memcpy(p, url, (size_t)un); p += un;
        l = 0;
        memcpy(p, &l, 4); p += 4;  // no headers
        memcpy(p, &l, 4); p += 4;  // no body
        int32_t rn = nx_http_fetch(req, (uint32_t)(p - req), resp, sizeof resp);
        if (rn < 0) {
            snprintf(out, sizeof out, "fetch=%d", rn);
            nx_respond_str(502, out);
            return;
        }
        // status, headers, body: skip to the body.
        const uint8_t *q = resp + 4, *end = resp + rn, *span;
        uint32_t hc = nx_u32le(q), sn;
        q += 4;
        for (uint32_t i = 0; i < hc; i++) {
            nx__take(&q, end, &span, &sn);
            nx__take(&q, end, &span, &sn);
        }
        nx__take(&q, end, &span, &sn);
        snprintf(out, sizeof out, "status=%u body=%.*s", nx_u32le(resp), (int)sn, (const char *)span);
        nx_respond_str(200, out);
    } else if (nx_request_is(&r, "POST", "/emit")) {
        char name[160] = "test.";
        uint32_t bn = r.body_len < 120 ? r.body_len : 120;
        memcpy(name + 5, r.body, bn);
        respond_num(nx_event_emit((const uint8_t *)name, 5 + bn, r.body, r.body_len));
    } else if (nx_request_is(&r, "GET", "/bigheaders")) {
        static uint8_t h[70000];
        uint32_t vn = 65536;
        uint8_t *p = h;
        uint32_t one = 1, kn = 1;
        memcpy(p, &one, 4); p += 4;
        memcpy(p, &kn, 4); p += 4; *p++ = 'x';
        memcpy(p, &vn, 4); p += 4; memset(p, 'v', vn); p += vn;
        int32_t rc = nx_http_respond(200, h, (uint32_t)(p - h), (const uint8_t *)"", 0);
        respond_num(rc);
    } else {
        nx_respond_str(404, "no such route");
    }
}
