// hello_c: a guest in C against sdk/c/nx.h. It logs, stores a value in the
// node's datastore and reads it back.
#include <stdio.h>
#include <string.h>

#include "nx.h"

__attribute__((export_name("run"))) void run(void) {
    nx_log(NX_LOG_INFO, "Hello from C!");

    const char *key = "greeting", *val = "hello, datastore";
    if (nx_db_set((const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val)) != NX_OK) {
        nx_abort_str("db_set failed");
    }
    uint8_t buf[64];
    int32_t n = nx_db_get((const uint8_t *)key, strlen(key), buf, sizeof buf);
    if (n < 0) {
        nx_abort_str("db_get failed");
    }
    printf("%s = %.*s\n", key, (int)n, (const char *)buf);
    fflush(stdout); // a reactor never exits, so flush what it printed
}
