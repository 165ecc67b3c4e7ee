/* Xen 4.17's null, compiled unmodified; its ops table made reachable. */
#include <common/sched/null.c>
const struct scheduler *oc_sched_null(void) { return &sched_null_def; }
