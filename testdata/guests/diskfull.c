// diskfull: writes 64 KiB guest values until a write is refused ("full N:
// CODE"), then retries one write every 50 ms (by the host clock) until it
// succeeds ("resumed after M tries") or NX_WAIT_MS passes ("still full").
// Run with guest_timeout = 0.
#include <stdio.h>
#include <stdlib.h>

#include "nx.h"

static uint8_t val[65536];

static int env_int(const char *name, int len, int def) {
    char buf[16];
    int32_t got = nx_env_get((const uint8_t *)name, len, (uint8_t *)buf, sizeof buf - 1);
    if (got <= 0) return def;
    buf[got] = 0;
    return atoi(buf);
}

__attribute__((export_name("run"))) void run(void) {
    int wait_ms = env_int("NX_WAIT_MS", 10, 60000);
    char key[16];
    int i = 0;
    int32_t rc = 0;
    for (;; i++) {
        snprintf(key, sizeof key, "k%08d", i);
        val[i % sizeof val] = (uint8_t)i;
        uint64_t t0 = nx_time_monotonic();
        rc = nx_db_set((const uint8_t *)key, 9, val, sizeof val);
        uint64_t took = nx_time_monotonic() - t0; /* ms */
        if (rc != 0) {
            printf("full %d: %d in %llu ms\n", i, rc, (unsigned long long)took);
            fflush(stdout);
            break;
        }
    }
    uint64_t start = nx_time_monotonic();
    for (int tries = 1;; tries++) {
        uint64_t next = nx_time_monotonic() + 50;
        while (nx_time_monotonic() < next) {
        }
        if (nx_db_set((const uint8_t *)"after", 5, val, 16) == 0) {
            printf("resumed after %d tries\n", tries);
            fflush(stdout);
            return;
        }
        if (nx_time_monotonic() - start > (uint64_t)wait_ms) {
            printf("still full\n");
            fflush(stdout);
            return;
        }
    }
}
