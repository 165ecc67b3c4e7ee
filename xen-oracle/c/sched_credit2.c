/* Xen 4.17's credit2, compiled unmodified; its ops table made reachable. */
#include <common/sched/credit2.c>
const struct scheduler *oc_sched_credit2(void) { return &sched_credit2_def; }
