// dbwrite: the store benchmark's guest (nx bench store). It makes NX_COUNT
// (default 200000) db_set calls of a 16-byte key and a 256-byte value, the
// keys in the order perf.StoreKey gives, and prints "elapsed_ms N" (the
// loop alone, by time_monotonic) and "writes N". With NX_SPIN=N it instead
// spins N iterations of a loop without host calls and prints
// "spin_ms N": what the time limit's check costs per loop iteration.
#include <stdio.h>
#include <stdlib.h>

#include "nx.h"

static uint8_t val[256];

static long env_long(const char *name, int name_len, long def) {
    char buf[24];
    int32_t got = nx_env_get((const uint8_t *)name, name_len, (uint8_t *)buf, sizeof buf - 1);
    if (got <= 0) return def;
    buf[got] = 0;
    return atol(buf);
}

// key writes key i: its 4 bytes big-endian, then 12 bytes that spread the
// keys (the same as perf.StoreKey).
static void key(uint8_t *k, uint32_t i) {
    k[0] = (uint8_t)(i >> 24);
    k[1] = (uint8_t)(i >> 16);
    k[2] = (uint8_t)(i >> 8);
    k[3] = (uint8_t)i;
    uint32_t x = i * 2654435761u;
    for (int j = 4; j < 16; j++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        k[j] = (uint8_t)x;
    }
}

__attribute__((export_name("run"))) void run(void) {
    long spin = env_long("NX_SPIN", 7, 0);
    if (spin > 0) {
        volatile uint32_t acc = 0;
        uint64_t t0 = nx_time_monotonic();
        for (long i = 0; i < spin; i++) acc += (uint32_t)i;
        printf("spin_ms %llu\nacc %u\n", (unsigned long long)(nx_time_monotonic() - t0), (unsigned)acc);
        fflush(stdout);
        return;
    }
    long n = env_long("NX_COUNT", 8, 200000);
    for (int i = 0; i < 256; i++) val[i] = (uint8_t)(i * 7);
    uint8_t k[16];
    uint64_t t0 = nx_time_monotonic();
    for (long i = 0; i < n; i++) {
        key(k, (uint32_t)i);
        int32_t rc = nx_db_set(k, sizeof k, val, sizeof val);
        if (rc != 0) {
            printf("failed %ld: %d\n", i, rc);
            return;
        }
    }
    printf("elapsed_ms %llu\nwrites %ld\n", (unsigned long long)(nx_time_monotonic() - t0), n);
    fflush(stdout);
}
