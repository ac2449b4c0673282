// fill: writes NX_FILL (default 160) guest keys "k00000000", ... of 64 KiB
// each, printing "ok N" every 16, and stops at the first failed write
// ("failed N: CODE"). Enough data that the datastore has table files.
#include <stdio.h>
#include <stdlib.h>

#include "nx.h"

static uint8_t val[65536];

__attribute__((export_name("run"))) void run(void) {
    char buf[16];
    int n = 160;
    int32_t got = nx_env_get((const uint8_t *)"NX_FILL", 7, (uint8_t *)buf, sizeof buf - 1);
    if (got > 0) {
        buf[got] = 0;
        n = atoi(buf);
    }
    char key[16];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%08d", i);
        val[i % sizeof val] = (uint8_t)i;
        int32_t rc = nx_db_set((const uint8_t *)key, 9, val, sizeof val);
        if (rc != 0) {
            printf("failed %d: %d\n", i, rc);
            return;
        }
        if (i % 16 == 0) printf("ok %d\n", i);
    }
}
