// spin: loops forever (for the time limit and "datastore in use" tests).
#include "nx.h"
__attribute__((export_name("run"))) void run(void) {
    nx_log(NX_LOG_INFO, "spinning");
    volatile unsigned long n = 0;
    for (;;) n++;
}
