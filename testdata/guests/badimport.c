// badimport: imports a function the runtime does not provide.
#include "nx.h"
__attribute__((import_module("env"), import_name("mystery"))) int mystery(int);
__attribute__((export_name("run"))) void run(void) { mystery(1); }
