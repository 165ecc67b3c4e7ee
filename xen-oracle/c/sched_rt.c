/* Xen 4.17's rt, compiled unmodified; its ops table made reachable. */
#include <common/sched/rt.c>
const struct scheduler *oc_sched_rt(void) { return &sched_rtds_def; }
