// noentry: a reactor that exports neither run nor _start.
#include "nx.h"
__attribute__((export_name("work"))) void work(void) { nx_log(NX_LOG_INFO, "never"); }
