/* Xen 4.17's credit1, compiled unmodified; its ops table made reachable. */
#include <common/sched/credit.c>
const struct scheduler *oc_sched_credit(void) { return &sched_credit_def; }
