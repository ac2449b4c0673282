// trivial_http: the smallest service, for nx bench serve: every request is
// answered 200 "ok" without reading it.
#include "nx.h"

static const uint8_t no_headers[4] = {0, 0, 0, 0};

__attribute__((export_name("on_request"))) void on_request(void) {
    nx_http_respond(200, no_headers, 4, (const uint8_t *)"ok", 2);
}
