/*
 * rs_shim.c: Xen 4.17's side of the Rust schedulers.
 *
 * Three `struct scheduler`s ("Rust credit" = sched=rcredit, "vSlicer" =
 * sched=vslicer, "EDF+credit" = sched=edfcredit) whose every op is a C
 * function (cf_check, so IBT and retpolines stay Xen's business) that calls
 * the Rust entry points of rs_sched.h directly. The shim also owns what only
 * C can do over Xen's inline APIs: the timers, the unit/lock bookkeeping of
 * the core (sched_set_res, next_task, ...) and the rs_xen_* services Rust
 * calls back.
 *
 * Rules kept here (see rs_sched.h):
 *  - Every call into Rust runs with local interrupts disabled
 *    (local_irq_save/restore around it, also where Xen already holds an
 *    irqsave lock). The one exception is inside rs_xen_alloc/rs_xen_free:
 *    when the entry was called by Xen with interrupts on (init, alloc_*,
 *    free_*, deinit), they are re-enabled for the allocator only, because
 *    Xen's allocator must not run with interrupts off on an SMP host
 *    (ASSERT_ALLOC_CONTEXT; a TLB-flush IPI would deadlock). Rust holds none
 *    of its locks when it allocates or frees.
 *  - The idle units and the idle domain never reach Rust: the idle unit's
 *    priv is a static marker and the idle domain has no domdata.
 *  - Per-pCPU lock scheduler: switch_sched hands back the resource's own
 *    `_lock`, as credit1 does. Rust keeps its own locks inside.
 *
 * Copyright: this file is part of the project (GPL-2.0-only, as Xen).
 */

#include <xen/init.h>
#include <xen/lib.h>
#include <xen/sched.h>
#include <xen/softirq.h>
#include <xen/time.h>
#include <xen/timer.h>
#include <xen/trace.h>
#include <xen/xmalloc.h>
#include <xen/errno.h>
#include <xen/err.h>
#include <xen/percpu.h>
#include <xen/irq.h>
#include <xen/types.h>

#include "private.h"
#include "rs_sched.h"

/* ------------------------------------------------------------------------
 * Trace records (xentrace): credit1's, since the three schedulers are of
 * the credit family and xenalyze decodes credit1's records
 * (xen/common/sched/credit.c:129-139 has the same definitions). Xen's core
 * writes the generic ones (switches, runstates, wakes). `vsched simulate
 * --trace-format xentrace` writes these at the same points: SCHEDULE per
 * decision, SCHED_TASKLET when the idle unit is asked for (tasklet work or
 * a pCPU leaving the pool), PICKED_CPU where Xen asks where a unit goes.
 */
#define TRC_CSCHED_SCHED_TASKLET TRC_SCHED_CLASS_EVT(CSCHED, 1)
#define TRC_CSCHED_PICKED_CPU    TRC_SCHED_CLASS_EVT(CSCHED, 5)
#define TRC_CSCHED_SCHEDULE      TRC_SCHED_CLASS_EVT(CSCHED, 9)

/* ------------------------------------------------------------------------
 * ABI checks: the public-header records are the Rust records.
 */
#define RS_SAME_FIELD(xs, rs, f)                                           \
    BUILD_BUG_ON(offsetof(struct xs, f) != offsetof(struct rs, f) ||       \
                 sizeof_field(struct xs, f) != sizeof_field(struct rs, f))

static void __init __maybe_unused rs_abi_checks(void)
{
    BUILD_BUG_ON(RS_MASK_WORDS * 64 != NR_CPUS);
    BUILD_BUG_ON(sizeof(unsigned long) != sizeof(uint64_t));

    BUILD_BUG_ON(sizeof(struct xen_domctl_sched_rsched) !=
                 sizeof(struct rs_dom_params));
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, weight);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, cap);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, microslice_us);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, deadline_us);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, reserve_us);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, rt_mode);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, driver);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, pad);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, auto_microslice_us);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, auto_events);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, auto_burst_us);
    RS_SAME_FIELD(xen_domctl_sched_rsched, rs_dom_params, auto_changes);

    BUILD_BUG_ON(sizeof(struct xen_sysctl_rsched_schedule) !=
                 sizeof(struct rs_global_params));
    RS_SAME_FIELD(xen_sysctl_rsched_schedule, rs_global_params, tslice_ms);
    RS_SAME_FIELD(xen_sysctl_rsched_schedule, rs_global_params, ratelimit_us);
    RS_SAME_FIELD(xen_sysctl_rsched_schedule, rs_global_params,
                  vcpu_migr_delay_us);
    RS_SAME_FIELD(xen_sysctl_rsched_schedule, rs_global_params, poll_us);
    RS_SAME_FIELD(xen_sysctl_rsched_schedule, rs_global_params, edf_slice_us);
    RS_SAME_FIELD(xen_sysctl_rsched_schedule, rs_global_params, flags);

    /* The new union members do not move the existing ones ... */
    BUILD_BUG_ON(offsetof(struct xen_domctl_scheduler_op, u.rsched) !=
                 offsetof(struct xen_domctl_scheduler_op, u.credit));
    BUILD_BUG_ON(offsetof(struct xen_sysctl_scheduler_op, u.sched_rsched) !=
                 offsetof(struct xen_sysctl_scheduler_op, u.sched_credit));
    /* ... and the hypercall records keep their 128-byte unions. */
    BUILD_BUG_ON(sizeof(struct xen_domctl_scheduler_op) > 128);
    BUILD_BUG_ON(sizeof(struct xen_sysctl_scheduler_op) > 128);
    BUILD_BUG_ON(sizeof_field(struct xen_domctl, u) != 128);
    BUILD_BUG_ON(sizeof_field(struct xen_sysctl, u) != 128);

    BUILD_BUG_ON(sizeof(struct rs_decision) != 24);
    BUILD_BUG_ON(RS_CMD_PUTINFO != XEN_DOMCTL_SCHEDOP_putinfo ||
                 RS_CMD_GETINFO != XEN_DOMCTL_SCHEDOP_getinfo ||
                 RS_CMD_PUTINFO != XEN_SYSCTL_SCHEDOP_putinfo ||
                 RS_CMD_GETINFO != XEN_SYSCTL_SCHEDOP_getinfo);
}

/* ------------------------------------------------------------------------
 * The shim's records.
 */

/* Per pCPU of an instance (alloc_pdata -> sr->sched_priv). */
struct rs_pcpu {
    struct timer tick;          /* RS_TIMER_TICK   */
    struct timer policy;        /* RS_TIMER_POLICY */
    struct rs_host *host;
    unsigned int cpu;
    bool live;                  /* timers initialised, pCPU in the instance */
};

/* Per instance (ops->sched_data); `host` in rs_sched.h. */
struct rs_host {
    void *inst;                 /* what rs_sched_init returned */
    unsigned int policy;        /* its sched_id (rs_policies.h) */
    spinlock_t acct_lock;       /* acct timer init/migrate/kill */
    struct timer acct;          /* RS_TIMER_ACCT, on acct_cpu */
    unsigned int acct_cpu;      /* UINT_MAX: not initialised */
    unsigned int npcpus;
    cpumask_t cpus;             /* pCPUs in the instance */
    struct rs_pcpu *pcpu[NR_CPUS];
    /* Counters shown by the dump. */
    unsigned long unlocked_steals;
    unsigned long dropped_picks;
};

/*
 * Per unit (unit->priv): the Rust record and what the shim must remember to
 * tell Rust whether a wake is an event's (the core changes the runstate from
 * blocked to runnable before it calls the wake op, so it cannot be read
 * there).
 */
struct rs_unit {
    void *rv;                   /* what rs_sched_alloc_udata returned */
    bool blocked;               /* left the pCPU (or slept) blocked */
};

/* The idle units' priv: never handed to Rust. */
static struct rs_unit rs_idle_marker;

#define RS_HOST(ops)   ((struct rs_host *)(ops)->sched_data)
#define RS_UNIT(unit)  ((struct rs_unit *)(unit)->priv)

/*
 * Set while an entry Xen called with interrupts on is inside Rust: the
 * allocator may then briefly turn them back on (see the top comment).
 */
static DEFINE_PER_CPU(bool, rs_alloc_irq_on);

#define RS_ENTER(flags)  local_irq_save(flags)
#define RS_LEAVE(flags)  local_irq_restore(flags)

/* For the entries that allocate or free: remembers the caller's state. */
#define RS_ENTER_ALLOC(flags, prev)                                       \
    do {                                                                  \
        bool on_ = local_irq_is_enabled();                                \
        local_irq_save(flags);                                            \
        (prev) = this_cpu(rs_alloc_irq_on);                               \
        this_cpu(rs_alloc_irq_on) = on_;                                  \
    } while ( 0 )
#define RS_LEAVE_ALLOC(flags, prev)                                       \
    do {                                                                  \
        this_cpu(rs_alloc_irq_on) = (prev);                               \
        local_irq_restore(flags);                                         \
    } while ( 0 )

/* ------------------------------------------------------------------------
 * Services Rust calls (rs_xen_*).
 */

int64_t rs_xen_now(void)
{
    return NOW();
}

void rs_xen_raise_softirq(uint32_t cpu)
{
    if ( cpu < nr_cpu_ids && cpu_online(cpu) )
        cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ);
}

static struct timer *rs_pcpu_timer(struct rs_host *h, uint32_t cpu,
                                   uint32_t kind)
{
    struct rs_pcpu *pc;

    if ( cpu >= NR_CPUS )
        return NULL;
    pc = ACCESS_ONCE(h->pcpu[cpu]);
    if ( !pc || !pc->live )
        return NULL;
    switch ( kind )
    {
    case RS_TIMER_TICK:
        return &pc->tick;
    case RS_TIMER_POLICY:
        return &pc->policy;
    }
    return NULL;
}

static void cf_check rs_acct_fn(void *data);

void rs_xen_set_timer(void *host, uint32_t cpu, uint32_t kind, int64_t at)
{
    struct rs_host *h = host;
    struct timer *t;
    unsigned long flags;

    if ( kind == RS_TIMER_ACCT )
    {
        if ( cpu >= nr_cpu_ids || !cpu_online(cpu) )
            return;
        spin_lock_irqsave(&h->acct_lock, flags);
        if ( h->acct_cpu == UINT_MAX )
        {
            init_timer(&h->acct, rs_acct_fn, h, cpu);
            h->acct_cpu = cpu;
        }
        else if ( h->acct_cpu != cpu )
        {
            /* The master pCPU changed: the timer follows it. */
            migrate_timer(&h->acct, cpu);
            h->acct_cpu = cpu;
        }
        set_timer(&h->acct, at);
        spin_unlock_irqrestore(&h->acct_lock, flags);
        return;
    }

    t = rs_pcpu_timer(h, cpu, kind);
    if ( t )
        set_timer(t, at);
}

void rs_xen_stop_timer(void *host, uint32_t cpu, uint32_t kind)
{
    struct rs_host *h = host;
    struct timer *t;
    unsigned long flags;

    if ( kind == RS_TIMER_ACCT )
    {
        spin_lock_irqsave(&h->acct_lock, flags);
        if ( h->acct_cpu != UINT_MAX )
            stop_timer(&h->acct);
        spin_unlock_irqrestore(&h->acct_lock, flags);
        return;
    }

    t = rs_pcpu_timer(h, cpu, kind);
    if ( t )
        stop_timer(t);
}

void rs_xen_pause_unit(void *unit)
{
    sched_unit_pause_nosync(unit);
}

void rs_xen_unpause_unit(void *unit)
{
    sched_unit_unpause(unit);
}

/*
 * The peer lock work stealing holds, per stealing pCPU (one at a time):
 * unlocked by pointer, because the resource's lock pointer may change once
 * it is released (schedule_cpu_add/rm), and taken with Xen's re-check of
 * that pointer (pcpu_schedule_trylock).
 */
static DEFINE_PER_CPU(spinlock_t *, rs_peer_lock);

uint8_t rs_xen_trylock_peer(uint32_t cpu)
{
    spinlock_t *lock;

    ASSERT(!local_irq_is_enabled());
    ASSERT(!this_cpu(rs_peer_lock));
    lock = pcpu_schedule_trylock(cpu);
    this_cpu(rs_peer_lock) = lock;
    return lock != NULL;
}

void rs_xen_unlock_peer(uint32_t cpu)
{
    spinlock_t *lock = this_cpu(rs_peer_lock);

    (void)cpu;
    this_cpu(rs_peer_lock) = NULL;
    if ( lock )
        spin_unlock(lock);
}

void rs_xen_set_res(void *unit, uint32_t cpu)
{
    sched_set_res(unit, get_sched_res(cpu));
}

void rs_xen_migrate_unit(void *unit)
{
    /* set_bit is atomic (locked) on x86. */
    sched_set_pause_flags(unit, _VPF_migrating);
}

void *rs_xen_alloc(unsigned long size, unsigned long align)
{
    void *p;

    if ( this_cpu(rs_alloc_irq_on) && !local_irq_is_enabled() )
    {
        local_irq_enable();
        p = _xzalloc(size, align);
        local_irq_disable();
    }
    else
        p = _xzalloc(size, align);
    return p;
}

void rs_xen_free(void *p)
{
    if ( this_cpu(rs_alloc_irq_on) && !local_irq_is_enabled() )
    {
        local_irq_enable();
        xfree(p);
        local_irq_disable();
    }
    else
        xfree(p);
}

void rs_xen_print(const char *s, unsigned long len)
{
    printk("%.*s", (int)len, s);
}

void rs_xen_panic(const char *s, unsigned long len)
{
    panic("Rust scheduler: %.*s\n", (int)len, s);
}

/* ------------------------------------------------------------------------
 * Timers: TIMER_SOFTIRQ context, interrupts on, no lock held.
 */

static void cf_check rs_tick_fn(void *data)
{
    struct rs_pcpu *pc = data;
    unsigned long flags;

    RS_ENTER(flags);
    rs_sched_timer_fired(pc->host->inst, pc->cpu, RS_TIMER_TICK);
    RS_LEAVE(flags);
}

static void cf_check rs_policy_fn(void *data)
{
    struct rs_pcpu *pc = data;
    unsigned long flags;

    RS_ENTER(flags);
    rs_sched_timer_fired(pc->host->inst, pc->cpu, RS_TIMER_POLICY);
    RS_LEAVE(flags);
}

static void cf_check rs_acct_fn(void *data)
{
    struct rs_host *h = data;
    unsigned long flags;

    RS_ENTER(flags);
    rs_sched_timer_fired(h->inst, smp_processor_id(), RS_TIMER_ACCT);
    RS_LEAVE(flags);
}

/* ------------------------------------------------------------------------
 * Instance, pCPUs.
 */

static int cf_check rs_init(struct scheduler *ops)
{
    struct rs_host *h;
    unsigned long flags;
    bool prev;

    h = xzalloc(struct rs_host);
    if ( !h )
        return -ENOMEM;
    spin_lock_init(&h->acct_lock);
    h->acct_cpu = UINT_MAX;
    h->policy = ops->sched_id;

    RS_ENTER_ALLOC(flags, prev);
    h->inst = rs_sched_init(ops->sched_id, h);
    RS_LEAVE_ALLOC(flags, prev);
    if ( !h->inst )
    {
        xfree(h);
        return -ENOMEM;
    }
    ops->sched_data = h;
    return 0;
}

static void cf_check rs_deinit(struct scheduler *ops)
{
    struct rs_host *h = RS_HOST(ops);
    unsigned long flags;
    bool prev;

    if ( !h )
        return;
    ops->sched_data = NULL;
    RS_ENTER_ALLOC(flags, prev);
    rs_sched_deinit(h->inst);
    RS_LEAVE_ALLOC(flags, prev);
    if ( h->acct_cpu != UINT_MAX )
        kill_timer(&h->acct);
    xfree(h);
}

static void *cf_check rs_alloc_pdata(const struct scheduler *ops, int cpu)
{
    struct rs_pcpu *pc = xzalloc(struct rs_pcpu);

    if ( !pc )
        return ERR_PTR(-ENOMEM);
    pc->host = RS_HOST(ops);
    pc->cpu = cpu;
    return pc;
}

static void cf_check rs_free_pdata(const struct scheduler *ops, void *pdata,
                                   int cpu)
{
    struct rs_pcpu *pc = pdata;

    ASSERT(!pc || !pc->live);
    xfree(pc);
}

/* Change the scheduler of `cpu` to us (cf. csched_switch_sched). */
static spinlock_t *cf_check rs_switch_sched(struct scheduler *new_ops,
                                            unsigned int cpu, void *pdata,
                                            void *vdata)
{
    struct sched_resource *sr = get_sched_res(cpu);
    struct rs_host *h = RS_HOST(new_ops);
    struct rs_pcpu *pc = pdata;
    unsigned long flags;

    ASSERT(vdata == &rs_idle_marker);
    ASSERT(!local_irq_is_enabled());

    sched_idle_unit(cpu)->priv = vdata;

    pc->host = h;
    pc->cpu = cpu;
    init_timer(&pc->tick, rs_tick_fn, pc, cpu);
    init_timer(&pc->policy, rs_policy_fn, pc, cpu);
    pc->live = true;
    smp_wmb();
    h->pcpu[cpu] = pc;
    cpumask_set_cpu(cpu, &h->cpus);
    h->npcpus++;

    RS_ENTER(flags);
    rs_sched_add_pcpu(h->inst, cpu);
    RS_LEAVE(flags);

    return &sr->_lock;
}

static void cf_check rs_deinit_pdata(const struct scheduler *ops, void *pdata,
                                     int cpu)
{
    struct rs_host *h = RS_HOST(ops);
    struct rs_pcpu *pc = pdata;
    unsigned long flags;

    ASSERT(pc && pc->live && h->pcpu[cpu] == pc);

    RS_ENTER(flags);
    rs_sched_remove_pcpu(h->inst, cpu);

    pc->live = false;
    h->pcpu[cpu] = NULL;
    cpumask_clear_cpu(cpu, &h->cpus);
    h->npcpus--;
    kill_timer(&pc->tick);
    kill_timer(&pc->policy);

    spin_lock(&h->acct_lock);
    if ( h->acct_cpu == (unsigned int)cpu )
    {
        if ( h->npcpus == 0 )
        {
            kill_timer(&h->acct);
            h->acct_cpu = UINT_MAX;
        }
        else
        {
            /* Until Rust names a new master, keep it in the pool. */
            h->acct_cpu = cpumask_first(&h->cpus);
            migrate_timer(&h->acct, h->acct_cpu);
        }
    }
    spin_unlock(&h->acct_lock);
    RS_LEAVE(flags);
}

static void cf_check rs_move_timers(const struct scheduler *ops,
                                    struct sched_resource *sr)
{
    struct rs_host *h = RS_HOST(ops);
    unsigned int cpu = sr->master_cpu;
    struct rs_pcpu *pc = sr->sched_priv;
    unsigned long flags;

    if ( pc && pc->live )
    {
        migrate_timer(&pc->tick, cpu);
        migrate_timer(&pc->policy, cpu);
    }
    spin_lock_irqsave(&h->acct_lock, flags);
    if ( h->acct_cpu == cpu )
        migrate_timer(&h->acct, cpu);
    spin_unlock_irqrestore(&h->acct_lock, flags);
}

/* ------------------------------------------------------------------------
 * Domains and units.
 */

static void *cf_check rs_alloc_domdata(const struct scheduler *ops,
                                       struct domain *d)
{
    void *dom;
    unsigned long flags;
    bool prev;

    if ( is_idle_domain(d) )
        return NULL;

    RS_ENTER_ALLOC(flags, prev);
    dom = rs_sched_alloc_domdata(RS_HOST(ops)->inst, d->domain_id);
    RS_LEAVE_ALLOC(flags, prev);

    return dom ?: ERR_PTR(-ENOMEM);
}

static void cf_check rs_free_domdata(const struct scheduler *ops, void *data)
{
    unsigned long flags;
    bool prev;

    if ( !data )
        return;
    RS_ENTER_ALLOC(flags, prev);
    rs_sched_free_domdata(RS_HOST(ops)->inst, data);
    RS_LEAVE_ALLOC(flags, prev);
}

static void *cf_check rs_alloc_udata(const struct scheduler *ops,
                                     struct sched_unit *unit, void *dd)
{
    struct rs_unit *u;
    unsigned long flags;
    bool prev;

    if ( is_idle_unit(unit) )
        return &rs_idle_marker;
    if ( !dd )
        return NULL;

    u = xzalloc(struct rs_unit);
    if ( !u )
        return NULL;

    RS_ENTER_ALLOC(flags, prev);
    u->rv = rs_sched_alloc_udata(RS_HOST(ops)->inst, unit, dd,
                                 (uint16_t)unit->unit_id,
                                 (const uint64_t *)
                                 cpumask_bits(unit->cpu_hard_affinity));
    RS_LEAVE_ALLOC(flags, prev);

    if ( !u->rv )
    {
        xfree(u);
        return NULL;
    }
    return u;
}

static void cf_check rs_free_udata(const struct scheduler *ops, void *priv)
{
    struct rs_unit *u = priv;
    unsigned long flags;
    bool prev;

    if ( !u || u == &rs_idle_marker )
        return;
    RS_ENTER_ALLOC(flags, prev);
    rs_sched_free_udata(RS_HOST(ops)->inst, u->rv);
    RS_LEAVE_ALLOC(flags, prev);
    xfree(u);
}

/* Any vCPU of the unit blocked (waiting for an event)? */
static bool rs_unit_blocked(const struct sched_unit *unit)
{
    const struct vcpu *v;

    for_each_sched_unit_vcpu ( unit, v )
        if ( v->pause_flags & VPF_blocked )
            return true;
    return false;
}

/*
 * Is `cpu` one Xen may be handed for `unit`: valid in its pool and in its
 * hard affinity? The pool's valid mask, not the instance's pCPUs: a pCPU
 * leaving the pool stops being valid before Xen moves its units away
 * (cpu_disable_scheduler) and long before deinit_pdata tells Rust, and
 * Xen retries until no unit is left there (credit1 picks from the same
 * mask).
 */
static bool rs_cpu_ok(const struct rs_host *h, const struct sched_unit *unit,
                      unsigned int cpu)
{
    return cpu < nr_cpu_ids &&
           cpumask_test_cpu(cpu, cpupool_domain_master_cpumask(unit->domain)) &&
           cpumask_test_cpu(cpu, &h->cpus) &&
           cpumask_test_cpu(cpu, unit->cpu_hard_affinity);
}

/* A valid pCPU of the pool in the unit's hard affinity (else any valid). */
static unsigned int rs_fallback_cpu(const struct rs_host *h,
                                    const struct sched_unit *unit)
{
    const cpumask_t *valid = cpupool_domain_master_cpumask(unit->domain);
    unsigned int c;

    if ( rs_cpu_ok(h, unit, sched_unit_master(unit)) )
        return sched_unit_master(unit);
    for_each_cpu ( c, valid )
        if ( rs_cpu_ok(h, unit, c) )
            return c;
    return cpumask_first(valid);
}

/* The resource Rust picks, checked against the pool and hard affinity. */
static unsigned int rs_pick_checked(const struct scheduler *ops,
                                    const struct sched_unit *unit)
{
    struct rs_host *h = RS_HOST(ops);
    unsigned long flags;
    unsigned int cpu;

    RS_ENTER(flags);
    cpu = rs_sched_pick_cpu(h->inst, RS_UNIT(unit)->rv);
    RS_LEAVE(flags);

    if ( unlikely(!rs_cpu_ok(h, unit, cpu)) )
        cpu = rs_fallback_cpu(h, unit);
    cpu = get_sched_res(cpu)->master_cpu;
    TRACE_3D(TRC_CSCHED_PICKED_CPU, unit->domain->domain_id, unit->unit_id,
             cpu);
    return cpu;
}

static struct sched_resource *cf_check
rs_pick_resource(const struct scheduler *ops, const struct sched_unit *unit)
{
    ASSERT(!is_idle_unit(unit));
    return get_sched_res(rs_pick_checked(ops, unit));
}

static void cf_check rs_insert_unit(const struct scheduler *ops,
                                    struct sched_unit *unit)
{
    struct rs_host *h = RS_HOST(ops);
    struct rs_unit *u = RS_UNIT(unit);
    spinlock_t *lock;
    unsigned int cpu;
    unsigned long flags;

    BUG_ON(is_idle_unit(unit));

    /* Rust places the unit; Xen's unit->res must agree with it. */
    lock = unit_schedule_lock_irq(unit);
    RS_ENTER(flags);
    cpu = rs_sched_insert_unit(h->inst, u->rv);
    RS_LEAVE(flags);
    if ( unlikely(!rs_cpu_ok(h, unit, cpu)) )
    {
        /* Never hand Xen a resource outside the pool or the affinity. */
        cpu = rs_fallback_cpu(h, unit);
        RS_ENTER(flags);
        rs_sched_migrate(h->inst, u->rv, cpu);
        RS_LEAVE(flags);
    }
    cpu = get_sched_res(cpu)->master_cpu;
    sched_set_res(unit, get_sched_res(cpu));
    /* Not unit_schedule_unlock_irq(): the unit's lock may have changed. */
    spin_unlock_irq(lock);

    /* A unit that is already runnable goes on a runqueue (as credit1). */
    lock = unit_schedule_lock_irq(unit);
    if ( unit_runnable(unit) && !unit->is_running )
    {
        RS_ENTER(flags);
        rs_sched_wake(h->inst, u->rv, 0);
        RS_LEAVE(flags);
    }
    unit_schedule_unlock_irq(lock, unit);
}

static void cf_check rs_remove_unit(const struct scheduler *ops,
                                    struct sched_unit *unit)
{
    unsigned long flags;

    BUG_ON(is_idle_unit(unit));
    RS_ENTER(flags);
    rs_sched_remove_unit(RS_HOST(ops)->inst, RS_UNIT(unit)->rv);
    RS_LEAVE(flags);
}

static void cf_check rs_sleep(const struct scheduler *ops,
                              struct sched_unit *unit)
{
    struct rs_unit *u = RS_UNIT(unit);
    unsigned long flags;

    BUG_ON(is_idle_unit(unit));
    u->blocked = rs_unit_blocked(unit);
    RS_ENTER(flags);
    rs_sched_sleep(RS_HOST(ops)->inst, u->rv);
    RS_LEAVE(flags);
}

static void cf_check rs_wake(const struct scheduler *ops,
                             struct sched_unit *unit)
{
    struct rs_unit *u = RS_UNIT(unit);
    unsigned long flags;
    uint8_t event;

    BUG_ON(is_idle_unit(unit));
    event = u->blocked;
    u->blocked = false;
    RS_ENTER(flags);
    rs_sched_wake(RS_HOST(ops)->inst, u->rv, event);
    RS_LEAVE(flags);
}

/*
 * An event reached a runnable or running unit (the patch's sched_vcpu_event,
 * called where Xen marks events pending, under the unit's schedule lock). A
 * busy guest never blocks, so this is the only way edfcredit hears that I/O
 * came for it; a blocked unit's event reaches Rust with its wake instead.
 */
static void cf_check rs_unit_event(const struct scheduler *ops,
                                   struct sched_unit *unit)
{
    unsigned long flags;

    if ( is_idle_unit(unit) )
        return;
    RS_ENTER(flags);
    rs_sched_event(RS_HOST(ops)->inst, RS_UNIT(unit)->rv);
    RS_LEAVE(flags);
}

static void cf_check rs_yield(const struct scheduler *ops,
                              struct sched_unit *unit)
{
    unsigned long flags;

    if ( is_idle_unit(unit) )
        return;
    RS_ENTER(flags);
    rs_sched_yield(RS_HOST(ops)->inst, RS_UNIT(unit)->rv);
    RS_LEAVE(flags);
}

static void cf_check rs_context_saved(const struct scheduler *ops,
                                      struct sched_unit *unit)
{
    unsigned long flags;

    if ( is_idle_unit(unit) )
        return;
    RS_ENTER(flags);
    rs_sched_context_saved(RS_HOST(ops)->inst, RS_UNIT(unit)->rv);
    RS_LEAVE(flags);
}

static void cf_check rs_migrate(const struct scheduler *ops,
                                struct sched_unit *unit, unsigned int new_cpu)
{
    unsigned long flags;

    BUG_ON(is_idle_unit(unit));
    RS_ENTER(flags);
    rs_sched_migrate(RS_HOST(ops)->inst, RS_UNIT(unit)->rv, new_cpu);
    RS_LEAVE(flags);
    sched_set_res(unit, get_sched_res(new_cpu));
}

static void cf_check rs_adjust_affinity(const struct scheduler *ops,
                                        struct sched_unit *unit,
                                        const struct cpumask *hard,
                                        const struct cpumask *soft)
{
    unsigned long flags;

    if ( is_idle_unit(unit) || RS_UNIT(unit) == &rs_idle_marker )
        return;
    RS_ENTER(flags);
    rs_sched_adjust_affinity(RS_HOST(ops)->inst, RS_UNIT(unit)->rv,
                             hard ? (const uint64_t *)cpumask_bits(hard) : NULL,
                             soft ? (const uint64_t *)cpumask_bits(soft) : NULL);
    RS_LEAVE(flags);
}

static void cf_check rs_do_schedule(const struct scheduler *ops,
                                    struct sched_unit *prev, s_time_t now,
                                    bool tasklet_work_scheduled)
{
    struct rs_host *h = RS_HOST(ops);
    unsigned int cpu = sched_get_resource_cpu(smp_processor_id());
    struct sched_resource *sr = get_sched_res(cpu);
    struct rs_decision d;
    struct sched_unit *next;
    bool prev_runnable = !is_idle_unit(prev) && unit_runnable(prev);
    /*
     * A pCPU leaving the pool runs idle (as for tasklet work: Rust keeps
     * prev queued) and so steals nothing, while Xen moves its units to the
     * pool's valid pCPUs (credit1: "if this CPU is going offline, we
     * shouldn't steal work").
     */
    bool leaving = !cpumask_test_cpu(cpu, sr->cpupool->res_valid);
    unsigned int round;
    unsigned long flags;
    struct sched_unit *dropped = NULL;

    if ( !is_idle_unit(prev) && !prev_runnable )
        RS_UNIT(prev)->blocked = rs_unit_blocked(prev);

    /* As credit1's csched_schedule: {cpu:16, tasklet:8, idle:8} (x86). */
    TRACE_1D(TRC_CSCHED_SCHEDULE,
             cpu | ((tasklet_work_scheduled || leaving) << 16) |
             (is_idle_unit(prev) << 24));
    if ( tasklet_work_scheduled || leaving )
        TRACE_0D(TRC_CSCHED_SCHED_TASKLET);

    for ( round = 0; ; round++ )
    {
        memset(&d, 0, sizeof(d));
        RS_ENTER(flags);
        rs_sched_do_schedule(h->inst, cpu, now, prev_runnable,
                             tasklet_work_scheduled || leaving, &d);
        /*
         * The unit dropped last round never ran: now that Rust has switched
         * away from it, its context is as good as saved (Rust may steal
         * it again).
         */
        if ( dropped )
            rs_sched_context_saved(h->inst, RS_UNIT(dropped)->rv);
        dropped = NULL;
        RS_LEAVE(flags);

        if ( !d.unit )
        {
            next = sched_idle_unit(cpu);
            break;
        }
        next = d.unit;
        /*
         * A unit Rust stole from a peer got this resource under the peer's
         * schedule lock (rs_xen_trylock_peer + rs_xen_set_res, as credit1's
         * csched_runq_steal). Anything else would be a unit Xen never
         * moved: count it (the dump shows it; 0 is the invariant) and fix
         * its resource so that Xen's bookkeeping stays consistent.
         */
        if ( unlikely(next->res != sr) )
        {
            h->unlocked_steals++;
            sched_set_res(next, sr);
        }
        /*
         * As credit1: a unit that stopped being runnable between its wake
         * and now (its sleep is waiting for this lock) is dropped; Rust sees
         * it as the current unit that is no longer runnable.
         */
        if ( likely(unit_runnable_state(next)) )
            break;
        h->dropped_picks++;
        RS_UNIT(next)->blocked = rs_unit_blocked(next);
        dropped = next;
        prev_runnable = false;
        if ( round >= 16 )
        {
            /* Cannot happen unless Rust keeps picking it: run idle. */
            RS_ENTER(flags);
            rs_sched_context_saved(h->inst, RS_UNIT(dropped)->rv);
            RS_LEAVE(flags);
            next = sched_idle_unit(cpu);
            d.migrated = 0;
            d.next_time = MILLISECS(1);
            break;
        }
    }

    prev->next_task = next;
    prev->next_time = d.next_time < 0 ? -1 : d.next_time;
    next->migrated = !is_idle_unit(next) && d.migrated;
}

/* ------------------------------------------------------------------------
 * Parameters.
 */

/*
 * The toolstack is told these schedulers are credit (compat_id, see the
 * RS_SCHEDULER registration), so stock libxl and `xl sched-credit` reach
 * them with XEN_SCHEDULER_CREDIT and credit1's records: only weight and cap
 * (domctl) or timeslice, ratelimit and migration delay (sysctl) are
 * meaningful there, the rest of the union is whatever was on the caller's
 * stack. The real sched_id selects the rsched records (vsched).
 */
static bool rs_credit_layout(const struct scheduler *ops, uint32_t sched_id)
{
    return sched_id != ops->sched_id;
}

static int cf_check rs_adjust(const struct scheduler *ops, struct domain *d,
                              struct xen_domctl_scheduler_op *op)
{
    bool credit = rs_credit_layout(ops, op->sched_id);
    struct rs_dom_params p;
    unsigned long flags;
    uint32_t cmd;
    bool prev;
    int rc;

    memset(&p, 0, sizeof(p));
    switch ( op->cmd )
    {
    case XEN_DOMCTL_SCHEDOP_putinfo:
        if ( credit )
        {
            p.weight = op->u.credit.weight;
            p.cap = op->u.credit.cap;
            cmd = RS_CMD_PUTINFO_CREDIT;
        }
        else
        {
            memcpy(&p, &op->u.rsched, sizeof(p));
            cmd = RS_CMD_PUTINFO;
        }
        break;
    case XEN_DOMCTL_SCHEDOP_getinfo:
        cmd = RS_CMD_GETINFO;
        break;
    default:
        /* No vCPU-level parameters. */
        return -EINVAL;
    }
    if ( !d->sched_priv )
        return -EINVAL;

    RS_ENTER_ALLOC(flags, prev);
    rc = rs_sched_adjust(RS_HOST(ops)->inst, d->sched_priv, cmd, &p);
    RS_LEAVE_ALLOC(flags, prev);

    if ( rc == 0 && cmd == RS_CMD_GETINFO )
    {
        if ( credit )
        {
            op->u.credit.weight = p.weight;
            op->u.credit.cap = p.cap;
        }
        else
            memcpy(&op->u.rsched, &p, sizeof(p));
    }
    return rc;
}

static int cf_check rs_adjust_global(const struct scheduler *ops,
                                     struct xen_sysctl_scheduler_op *op)
{
    bool credit = rs_credit_layout(ops, op->sched_id);
    struct rs_global_params p;
    unsigned long flags;
    uint32_t cmd;
    bool prev;
    int rc;

    memset(&p, 0, sizeof(p));
    switch ( op->cmd )
    {
    case XEN_SYSCTL_SCHEDOP_putinfo:
        if ( credit )
        {
            p.tslice_ms = op->u.sched_credit.tslice_ms;
            p.ratelimit_us = op->u.sched_credit.ratelimit_us;
            p.vcpu_migr_delay_us = op->u.sched_credit.vcpu_migr_delay_us;
            cmd = RS_CMD_PUTINFO_CREDIT;
        }
        else
        {
            memcpy(&p, &op->u.sched_rsched, sizeof(p));
            cmd = RS_CMD_PUTINFO;
        }
        break;
    case XEN_SYSCTL_SCHEDOP_getinfo:
        cmd = RS_CMD_GETINFO;
        break;
    default:
        return -EINVAL;
    }

    RS_ENTER_ALLOC(flags, prev);
    rc = rs_sched_adjust_global(RS_HOST(ops)->inst, cmd, &p);
    RS_LEAVE_ALLOC(flags, prev);

    /* Credit1's putinfo answers with the values in force, like getinfo. */
    if ( rc == 0 && credit )
    {
        op->u.sched_credit.tslice_ms = p.tslice_ms;
        op->u.sched_credit.ratelimit_us = p.ratelimit_us;
        op->u.sched_credit.vcpu_migr_delay_us = p.vcpu_migr_delay_us;
    }
    else if ( rc == 0 && cmd == RS_CMD_GETINFO )
        memcpy(&op->u.sched_rsched, &p, sizeof(p));
    return rc;
}

/* ------------------------------------------------------------------------
 * Debug key 'r'.
 */

static void cf_check rs_dump_settings(const struct scheduler *ops)
{
    struct rs_host *h = RS_HOST(ops);
    unsigned long flags;

    printk("rs_shim: policy %u, %u pCPUs, acct timer on cpu %d, "
           "unlocked steals %lu, dropped picks %lu\n",
           h->policy, h->npcpus,
           h->acct_cpu == UINT_MAX ? -1 : (int)h->acct_cpu,
           h->unlocked_steals, h->dropped_picks);
    RS_ENTER(flags);
    rs_sched_dump_settings(h->inst);
    RS_LEAVE(flags);
}

static void cf_check rs_dump_cpu_state(const struct scheduler *ops, int cpu)
{
    unsigned long flags;

    RS_ENTER(flags);
    rs_sched_dump_cpu(RS_HOST(ops)->inst, cpu);
    RS_LEAVE(flags);
}

/* ------------------------------------------------------------------------
 * The three schedulers: one shim, three policies.
 */

#define RS_SCHEDULER(var, NAME, OPT, ID)                \
static const struct scheduler var = {                   \
    .name            = NAME,                            \
    .opt_name        = OPT,                             \
    .sched_id        = ID,                              \
    .compat_id       = XEN_SCHEDULER_CREDIT,            \
    .sched_data      = NULL,                            \
    .init            = rs_init,                         \
    .deinit          = rs_deinit,                       \
    .alloc_pdata     = rs_alloc_pdata,                  \
    .free_pdata      = rs_free_pdata,                   \
    .deinit_pdata    = rs_deinit_pdata,                 \
    .switch_sched    = rs_switch_sched,                 \
    .move_timers     = rs_move_timers,                  \
    .alloc_domdata   = rs_alloc_domdata,                \
    .free_domdata    = rs_free_domdata,                 \
    .alloc_udata     = rs_alloc_udata,                  \
    .free_udata      = rs_free_udata,                   \
    .insert_unit     = rs_insert_unit,                  \
    .remove_unit     = rs_remove_unit,                  \
    .sleep           = rs_sleep,                        \
    .wake            = rs_wake,                         \
    .unit_event      = rs_unit_event,                   \
    .yield           = rs_yield,                        \
    .context_saved   = rs_context_saved,                \
    .do_schedule     = rs_do_schedule,                  \
    .pick_resource   = rs_pick_resource,                \
    .migrate         = rs_migrate,                      \
    .adjust          = rs_adjust,                       \
    .adjust_affinity = rs_adjust_affinity,              \
    .adjust_global   = rs_adjust_global,                \
    .dump_settings   = rs_dump_settings,                \
    .dump_cpu_state  = rs_dump_cpu_state,               \
};                                                      \
REGISTER_SCHEDULER(var)

/*
 * One scheduler per policy of sched-core's registry: rs_policies.h, written
 * by `cargo xtask xen-build` from sched_core::registry, has one
 * RS_POLICY(opt_name, "name", sched_id) line per policy.
 */
#define RS_POLICY(OPT, NAME, ID)                                \
    RS_SCHEDULER(sched_ ## OPT ## _def, NAME, #OPT, ID);
#include "rs_policies.h"
#undef RS_POLICY
