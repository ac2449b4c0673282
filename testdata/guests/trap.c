// trap: divides by zero at run time (both operands volatile, so the compiler
// must emit i32.div_s).
#include "nx.h"
volatile int num = 7, den = 0;
__attribute__((export_name("run"))) void run(void) {
    volatile int x = num / den;
    (void)x;
}
