/*
 * The mini core's interface to its host (the Rust side, `src/ffi.rs`,
 * which mirrors these declarations).
 */
#ifndef ORACLE_API_H
#define ORACLE_API_H

#include <stdbool.h>
#include <stdint.h>

/* What the core asks of the host: Rust's `Platform`, by pCPU number and
 * vCPU token. Each call only records; none calls back into the core. */
struct oc_cb {
    void *ctx;
    int64_t (*now)(void *ctx);
    void (*softirq)(void *ctx, unsigned int cpu);
    void (*set_timer)(void *ctx, unsigned int cpu, int64_t at);
    void (*stop_timer)(void *ctx, unsigned int cpu);
    void (*pause)(void *ctx, uintptr_t token);
    void (*unpause)(void *ctx, uintptr_t token);
    void (*migrate)(void *ctx, uintptr_t token);
    bool (*has_work)(void *ctx, uintptr_t token);
};

/* do_schedule's answer: prev->next_task, next_time, migrated. */
struct oc_decision {
    uintptr_t token;
    bool idle;
    bool migrated;
    int64_t slice; /* < 0: no limit */
};

struct oc_inst;
struct scheduler;
struct domain;
struct sched_unit;

const struct scheduler *oc_sched_credit(void);
const struct scheduler *oc_sched_credit2(void);
const struct scheduler *oc_sched_rt(void);
const struct scheduler *oc_sched_null(void);

struct oc_inst *oc_new(const struct scheduler *tmpl, const struct oc_cb *cb, int *err);
void oc_free(struct oc_inst *i);
void oc_abandon(struct oc_inst *i);
int oc_add_pcpu(struct oc_inst *i, unsigned int cpu);
int oc_remove_pcpu(struct oc_inst *i, unsigned int cpu);
struct domain *oc_dom_new(struct oc_inst *i, unsigned int id, int *err);
void oc_dom_free(struct oc_inst *i, struct domain *d);
struct sched_unit *oc_vcpu_new(struct oc_inst *i, struct domain *d, unsigned int id,
                               uintptr_t token, unsigned int cpu, const uint64_t *hard,
                               int *err);
void oc_vcpu_free(struct oc_inst *i, struct sched_unit *u);
void oc_sleep(struct oc_inst *i, struct sched_unit *u);
void oc_wake(struct oc_inst *i, struct sched_unit *u);
void oc_yield(struct oc_inst *i, struct sched_unit *u);
void oc_context_saved(struct oc_inst *i, struct sched_unit *u);
void oc_do_schedule(struct oc_inst *i, unsigned int cpu, int64_t now, bool prev_runnable,
                    bool tasklet, struct oc_decision *out);
unsigned int oc_pick_cpu(struct oc_inst *i, struct sched_unit *u);
void oc_migrate(struct oc_inst *i, struct sched_unit *u, unsigned int cpu);
void oc_set_affinity(struct oc_inst *i, struct sched_unit *u, const uint64_t *hard,
                     const uint64_t *soft);
void oc_timer_fired(struct oc_inst *i, unsigned int cpu);
int oc_dom_params(struct oc_inst *i, struct domain *d, bool put, uint32_t p[3]);
int oc_pool_params(struct oc_inst *i, bool put, uint32_t p[3]);
unsigned int oc_processor(const struct sched_unit *u);
const uint64_t *oc_hard_affinity(const struct sched_unit *u);
const uint64_t *oc_soft_affinity(const struct sched_unit *u);
bool oc_running_on(struct oc_inst *i, unsigned int cpu, uintptr_t *token);
const char *oc_dump(struct oc_inst *i, int cpu);

#endif
