// grow: grows its memory 1 MiB at a time until the host refuses, then traps.
#include "nx.h"
__attribute__((export_name("run"))) void run(void) {
    const char *key = "before-grow";
    nx_db_set((const uint8_t *)key, 11, (const uint8_t *)"x", 1);
    while (__builtin_wasm_memory_grow(0, 16) != (__SIZE_TYPE__)-1) {
    }
    __builtin_trap();
}
