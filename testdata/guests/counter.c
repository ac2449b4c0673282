// counter: the serve benchmark's replicated counter. POST /hit adds one to
// the GCounter "hits" and answers the new total; GET /count answers it;
// on_change publishes the total as the event "hits.total" whenever "hits"
// changed. One CRDT write per hit and nothing else.
#include <string.h>

#include "nx.h"

static uint8_t req[8192];
static const uint8_t no_headers[4] = {0, 0, 0, 0};

static uint64_t total(void) {
    uint8_t v[8];
    uint64_t c = 0;
    if (nx_crdt_gcounter_value((const uint8_t *)"hits", 4, v, 8) == 8) memcpy(&c, v, 8);
    return c;
}

static uint32_t itoa10(uint64_t v, char *out) {
    char tmp[24];
    uint32_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) out[i++] = tmp[--n];
    return i;
}

__attribute__((export_name("on_request"))) void on_request(void) {
    int32_t n = nx_http_request(req, sizeof req);
    nx_request r;
    if (n < 0 || !nx_request_parse(req, (uint32_t)n, &r)) {
        nx_respond_str(400, "bad request");
        return;
    }
    char out[24];
    if (nx_request_is(&r, "POST", "/hit")) {
        if (nx_crdt_gcounter_inc((const uint8_t *)"hits", 4, 1) != 0) {
            nx_respond_str(503, "increment failed");
            return;
        }
    } else if (!nx_request_is(&r, "GET", "/count")) {
        nx_respond_str(404, "no such route");
        return;
    }
    nx_http_respond(200, no_headers, 4, (const uint8_t *)out, itoa10(total(), out));
}

__attribute__((export_name("on_change"))) void on_change(void) {
    char out[24];
    uint32_t n = itoa10(total(), out);
    nx_event_emit((const uint8_t *)"hits.total", 10, (const uint8_t *)out, n);
}
