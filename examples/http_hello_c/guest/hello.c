// http_hello_c: a service module in C. GET /hello answers text, POST /echo
// returns the body, anything else 404.
#include "nx.h"

static uint8_t buf[1 << 20 | 4096];

__attribute__((export_name("on_request"))) void on_request(void) {
    int32_t n = nx_http_request(buf, sizeof buf);
    nx_request r;
    if (n < 0 || !nx_request_parse(buf, (uint32_t)n, &r)) {
        nx_respond_str(400, "bad request\n");
        return;
    }
    if (nx_request_is(&r, "GET", "/hello")) {
        nx_respond_str(200, "hello from C\n");
    } else if (nx_request_is(&r, "POST", "/echo")) {
        const uint8_t *ct;
        uint32_t ctn;
        char type[128] = "application/octet-stream";
        if (nx_request_header(&r, "content-type", &ct, &ctn) && ctn < sizeof type) {
            for (uint32_t i = 0; i < ctn; i++) type[i] = (char)ct[i];
            type[ctn] = 0;
        }
        nx_respond(200, type, r.body, r.body_len);
    } else {
        nx_respond_str(404, "not found\n");
    }
}
