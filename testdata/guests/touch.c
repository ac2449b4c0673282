// touch: grows its memory 1 MiB at a time to 240 MiB, touching every page,
// as a guest whose heap grows gradually does. The node should cost about
// the guest's own size, not the old and new copies of a growing buffer.
#include <stdint.h>

__attribute__((export_name("run"))) void run(void) {
    for (int i = 0; i < 240; i++) {
        unsigned long before = __builtin_wasm_memory_grow(0, 16);
        if (before == (unsigned long)-1) __builtin_trap();
        volatile uint8_t *p = (volatile uint8_t *)(before * 65536);
        for (unsigned long j = 0; j < 16 * 65536; j += 4096) p[j] = 1;
    }
}
