/*
 * A build without Xen's source (`build.rs` found none): every entry point
 * fails, saying how to get it. Rust checks `xen_oracle::AVAILABLE` first.
 */
#include "oracle_api.h"

void oc_fail(const char *what, const char *file, int line) __attribute__((__noreturn__));

static void __attribute__((__noreturn__)) missing(void)
{
    oc_fail("presence of Xen's schedulers (run `cargo xtask xen-source`, then build again)", __FILE__, __LINE__);
}

const struct scheduler *oc_sched_credit(void)
{
    missing();
}

const struct scheduler *oc_sched_credit2(void)
{
    missing();
}

const struct scheduler *oc_sched_rt(void)
{
    missing();
}

const struct scheduler *oc_sched_null(void)
{
    missing();
}

struct oc_inst *oc_new(const struct scheduler *tmpl, const struct oc_cb *cb, int *err)
{
    missing();
}

void oc_free(struct oc_inst *i)
{
    missing();
}

void oc_abandon(struct oc_inst *i)
{
    (void)i;
}

int oc_add_pcpu(struct oc_inst *i, unsigned int cpu)
{
    missing();
}

int oc_remove_pcpu(struct oc_inst *i, unsigned int cpu)
{
    missing();
}

struct domain *oc_dom_new(struct oc_inst *i, unsigned int id, int *err)
{
    missing();
}

void oc_dom_free(struct oc_inst *i, struct domain *d)
{
    missing();
}

struct sched_unit *oc_vcpu_new(struct oc_inst *i, struct domain *d, unsigned int id, uintptr_t token, unsigned int cpu, const uint64_t *hard, int *err)
{
    missing();
}

void oc_vcpu_free(struct oc_inst *i, struct sched_unit *u)
{
    missing();
}

void oc_sleep(struct oc_inst *i, struct sched_unit *u)
{
    missing();
}

void oc_wake(struct oc_inst *i, struct sched_unit *u)
{
    missing();
}

void oc_yield(struct oc_inst *i, struct sched_unit *u)
{
    missing();
}

void oc_context_saved(struct oc_inst *i, struct sched_unit *u)
{
    missing();
}

void oc_do_schedule(struct oc_inst *i, unsigned int cpu, int64_t now, bool prev_runnable, bool tasklet, struct oc_decision *out)
{
    missing();
}

unsigned int oc_pick_cpu(struct oc_inst *i, struct sched_unit *u)
{
    missing();
}

void oc_migrate(struct oc_inst *i, struct sched_unit *u, unsigned int cpu)
{
    missing();
}

void oc_set_affinity(struct oc_inst *i, struct sched_unit *u, const uint64_t *hard, const uint64_t *soft)
{
    missing();
}

void oc_timer_fired(struct oc_inst *i, unsigned int cpu)
{
    missing();
}

int oc_dom_params(struct oc_inst *i, struct domain *d, bool put, uint32_t p[3])
{
    missing();
}

int oc_pool_params(struct oc_inst *i, bool put, uint32_t p[3])
{
    missing();
}

unsigned int oc_processor(const struct sched_unit *u)
{
    missing();
}

const uint64_t *oc_hard_affinity(const struct sched_unit *u)
{
    missing();
}

const uint64_t *oc_soft_affinity(const struct sched_unit *u)
{
    missing();
}

bool oc_running_on(struct oc_inst *i, unsigned int cpu, uintptr_t *token)
{
    missing();
}

const char *oc_dump(struct oc_inst *i, int cpu)
{
    missing();
}
