/*
 * A mini scheduler core: what Xen 4.17's `common/sched/core.c` and
 * `common/timer.c` do around a scheduler's ops, for one cpupool, with
 * granularity 1, driven by a host (the Rust side, `src/lib.rs`).
 *
 * Each entry point takes the locks Xen's core takes and calls the ops in
 * its order (`schedule()`, `vcpu_wake()`, `vcpu_sleep_nosync()`,
 * `sched_unit_migrate_finish()`, `schedule_cpu_add()`/`_rm()`), with
 * `smp_processor_id()` the pCPU Xen would run it on. What Xen's core does
 * on its own (the slice timer, context switches, migration once
 * `_VPF_migrating` is set, parking's pause/unpause) is the host's: the
 * core only reports it (`struct oc_cb`).
 *
 * Timers: every timer the scheduler arms on a pCPU is kept on that pCPU's
 * list; the host holds one timer per pCPU at the earliest deadline among
 * them, and when it fires `oc_timer_fired` runs every due handler of that
 * pCPU, earliest first, before the host looks at softirqs: Xen's timer
 * softirq runs before its schedule softirq. Of timers due at one instant
 * the one set first runs first: Xen's heap (`common/timer.c`) neither
 * sifts a new timer above an equal deadline nor keeps an equal child below
 * its parent when it pops, so a few equal deadlines pop in the order they
 * were set (the accounting timer set at the last accounting before the
 * tick set at the last tick, for example).
 */
#include <stdarg.h>
#include <stdio.h>

#include <common/sched/private.h>

#include "oracle_api.h"

/* ---- the hypervisor's globals, one set per thread ---- */
__thread unsigned int oc_this_cpu;
__thread bool oc_irq_off;
__thread cpumask_t cpu_online_map;
__thread struct vcpu *oc_current[NR_CPUS];
DEFINE_PER_CPU(cpumask_var_t, cpu_sibling_mask);
DEFINE_PER_CPU(cpumask_var_t, cpu_core_mask);
DEFINE_PER_CPU(cpumask_t, cpumask_scratch);
DEFINE_PER_CPU(struct sched_resource *, sched_res);
DEFINE_PER_CPU(unsigned long, tasklet_work_to_do);
int oc_sched_ratelimit_us = SCHED_DEFAULT_RATELIMIT_US;
bool sched_smt_power_savings;
cpumask_t cpupool_free_cpus;

static cpumask_t oc_single[NR_CPUS];
static cpumask_t oc_all;

__attribute__((__constructor__)) static void oc_masks_init(void)
{
    for (unsigned int c = 0; c < NR_CPUS; c++)
        __cpumask_set_cpu(c, &oc_single[c]);
    cpumask_setall(&oc_all);
}

const cpumask_t *oc_cpumask_of(unsigned int cpu)
{
    ASSERT(cpu < NR_CPUS);
    return &oc_single[cpu];
}

struct oc_inst {
    struct scheduler sched;
    struct oc_cb cb;
    struct cpupool pool;
    cpumask_t pool_cpus, pool_res;
    struct domain idle_dom;
    struct sched_resource *res[NR_CPUS];
    struct vcpu *idle_vcpu[NR_CPUS];
    struct timer *timers[NR_CPUS];  /* each pCPU's list (`oc_next`) */
    s_time_t armed[NR_CPUS];        /* the host timer's deadline, or -1 */
    bool firing;                    /* in oc_timer_fired: re-arm after */
    uint64_t timer_seq;             /* counts set_timer calls */
    spinlock_t free_lock;           /* Xen's sched_free_cpu_lock */
    struct domain *doms;            /* live domains (`oc_next`) */
    char *out;                      /* printk's buffer while dumping */
    size_t out_len, out_cap;
};

static __thread struct oc_inst *oc_live;

static struct oc_inst *inst(void)
{
    ASSERT(oc_live != NULL);
    return oc_live;
}

struct scheduler *oc_scheduler(void)
{
    return &inst()->sched;
}

s_time_t oc_now(void)
{
    struct oc_inst *i = inst();
    return i->cb.now(i->cb.ctx);
}

void oc_printk(const char *fmt, ...)
{
    struct oc_inst *i = oc_live;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (!i || !i->out || n <= 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    if (i->out_len + n + 1 > i->out_cap) {
        size_t cap = (i->out_cap + n + 1) * 2;
        char *p = realloc(i->out, cap);
        if (!p)
            return;
        i->out = p;
        i->out_cap = cap;
    }
    memcpy(i->out + i->out_len, buf, n);
    i->out_len += n;
    i->out[i->out_len] = 0;
}

/* ---- softirqs and pause requests go to the host ---- */
void cpu_raise_softirq(unsigned int cpu, unsigned int nr)
{
    struct oc_inst *i = inst();
    if (nr == SCHEDULE_SOFTIRQ)
        i->cb.softirq(i->cb.ctx, cpu);
}

void cpumask_raise_softirq(const cpumask_t *m, unsigned int nr)
{
    unsigned int c;
    for_each_cpu (c, m)
        cpu_raise_softirq(c, nr);
}

/*
 * Parking (credit1's caps): as Xen's `vcpu_pause_nosync()` and
 * `vcpu_unpause()`, the sleep and the wake happen here and now, inside the
 * accounting that asked (a wake mid-pass sees the vCPUs not yet accounted
 * at their old priority, and the unparked vCPU is not boosted because its
 * PARKED flag is cleared only after this returns). The host is told so
 * that it stops counting the vCPU runnable and starts again; its own
 * sleep or wake that follows finds the work done.
 */
static void oc_sleep_locked(struct oc_inst *i, struct sched_unit *u);
static void oc_wake_locked(struct oc_inst *i, struct sched_unit *u);

void vcpu_pause_nosync(struct vcpu *v)
{
    struct oc_inst *i = inst();
    spinlock_t *lock;
    unsigned long flags;
    atomic_inc(&v->pause_count);
    v->oc_pause_echo = true;
    lock = unit_schedule_lock_irqsave(v->sched_unit, &flags);
    oc_sleep_locked(i, v->sched_unit);
    unit_schedule_unlock_irqrestore(lock, flags, v->sched_unit);
    i->cb.pause(i->cb.ctx, v->oc_token);
}

void vcpu_unpause(struct vcpu *v)
{
    struct oc_inst *i = inst();
    spinlock_t *lock;
    unsigned long flags;
    v->oc_pause_echo = false;
    /* Work that reached the guest while it was paused cleared VPF_blocked
     * in Xen (vcpu_unblock) without waking it: ask the host. */
    if (i->cb.has_work(i->cb.ctx, v->oc_token))
        v->pause_flags &= ~VPF_blocked;
    else
        v->pause_flags |= VPF_blocked;
    if (atomic_dec_and_test(&v->pause_count)) {
        lock = unit_schedule_lock_irqsave(v->sched_unit, &flags);
        oc_wake_locked(i, v->sched_unit);
        unit_schedule_unlock_irqrestore(lock, flags, v->sched_unit);
    }
    i->cb.unpause(i->cb.ctx, v->oc_token);
}

/* ---- timers ---- */
static void timer_unlink(struct oc_inst *i, struct timer *t)
{
    for (struct timer **p = &i->timers[t->cpu]; *p; p = &(*p)->oc_next)
        if (*p == t) {
            *p = t->oc_next;
            t->oc_next = NULL;
            return;
        }
}

/* Keeps the host's timer of `cpu` at the earliest active deadline. */
static void timer_sync(struct oc_inst *i, unsigned int cpu)
{
    s_time_t first = -1;
    if (i->firing)
        return;
    for (struct timer *t = i->timers[cpu]; t; t = t->oc_next)
        if (t->status == TIMER_STATUS_in_heap && (first < 0 || t->expires < first))
            first = t->expires;
    if (first == i->armed[cpu])
        return;
    i->armed[cpu] = first;
    if (first < 0)
        i->cb.stop_timer(i->cb.ctx, cpu);
    else
        i->cb.set_timer(i->cb.ctx, cpu, first);
}

void init_timer(struct timer *t, void (*fn)(void *), void *data, unsigned int cpu)
{
    struct oc_inst *i = inst();
    memset(t, 0, sizeof(*t));
    t->function = fn;
    t->data = data;
    t->cpu = cpu;
    t->status = TIMER_STATUS_inactive;
    t->oc_next = i->timers[cpu];
    i->timers[cpu] = t;
}

void set_timer(struct timer *t, s_time_t expires)
{
    ASSERT(t->status != TIMER_STATUS_invalid && t->status != TIMER_STATUS_killed);
    t->expires = expires;
    t->status = TIMER_STATUS_in_heap;
    t->oc_seq = ++inst()->timer_seq;
    timer_sync(inst(), t->cpu);
}

void stop_timer(struct timer *t)
{
    if (t->status != TIMER_STATUS_in_heap)
        return;
    t->status = TIMER_STATUS_inactive;
    timer_sync(inst(), t->cpu);
}

void migrate_timer(struct timer *t, unsigned int cpu)
{
    struct oc_inst *i = inst();
    unsigned int old = t->cpu;
    if (old == cpu || t->status == TIMER_STATUS_killed)
        return;
    timer_unlink(i, t);
    t->cpu = cpu;
    t->oc_next = i->timers[cpu];
    i->timers[cpu] = t;
    /* Xen takes an active timer off the old pCPU's heap and adds it to the
     * new one's: it now comes after the timers set there before. */
    if (t->status == TIMER_STATUS_in_heap)
        t->oc_seq = ++i->timer_seq;
    timer_sync(i, old);
    timer_sync(i, cpu);
}

void kill_timer(struct timer *t)
{
    struct oc_inst *i = inst();
    if (t->status == TIMER_STATUS_invalid || t->status == TIMER_STATUS_killed)
        return;
    timer_unlink(i, t);
    t->status = TIMER_STATUS_killed;
    timer_sync(i, t->cpu);
}

/* ---- the instance ---- */
static struct vcpu *oc_vcpu_alloc(struct domain *d, unsigned int id, unsigned int cpu)
{
    struct vcpu *v = calloc(1, sizeof(*v));
    struct sched_unit *u = calloc(1, sizeof(*u));
    if (!v || !u || !zalloc_cpumask_var(&u->cpu_hard_affinity) ||
        !zalloc_cpumask_var(&u->cpu_soft_affinity) ||
        !zalloc_cpumask_var(&u->cpu_hard_affinity_saved)) {
        if (u) {
            free(u->cpu_hard_affinity);
            free(u->cpu_soft_affinity);
        }
        free(u);
        free(v);
        return NULL;
    }
    v->vcpu_id = id;
    v->processor = cpu;
    v->oc_wake_cpu = NR_CPUS;
    v->domain = d;
    v->sched_unit = u;
    v->runstate.state = RUNSTATE_offline;
    u->domain = d;
    u->vcpu_list = v;
    u->unit_id = id;
    cpumask_setall(u->cpu_soft_affinity);
    return v;
}

static void oc_vcpu_release(struct vcpu *v)
{
    struct sched_unit *u = v->sched_unit;
    free_cpumask_var(u->cpu_hard_affinity);
    free_cpumask_var(u->cpu_soft_affinity);
    free_cpumask_var(u->cpu_hard_affinity_saved);
    free(u);
    free(v);
}

/* The zeroing functions DEFINE_PER_CPU registers, from every object. */
static struct oc_zero *oc_zeros;

void oc_register_zero(struct oc_zero *z)
{
    z->next = oc_zeros;
    oc_zeros = z;
}

struct oc_inst *oc_new(const struct scheduler *tmpl, const struct oc_cb *cb, int *err)
{
    struct oc_inst *i;
    *err = 0;
    if (oc_live) {
        *err = -EBUSY;
        return NULL;
    }
    i = calloc(1, sizeof(*i));
    if (!i) {
        *err = -ENOMEM;
        return NULL;
    }
    i->sched = *tmpl;
    i->cb = *cb;
    for (struct oc_zero *z = oc_zeros; z; z = z->next)
        z->zero();
    for (unsigned int c = 0; c < NR_CPUS; c++) {
        i->armed[c] = -1;
        per_cpu(cpu_sibling_mask, c) = &oc_single[c];
        per_cpu(cpu_core_mask, c) = &oc_all;
        per_cpu(sched_res, c) = NULL;
        per_cpu(tasklet_work_to_do, c) = 0;
        oc_current[c] = NULL;
    }
    cpumask_clear(&cpu_online_map);
    i->pool.cpupool_id = 0;
    i->pool.cpu_valid = &i->pool_cpus;
    i->pool.res_valid = &i->pool_res;
    i->pool.sched = &i->sched;
    i->pool.gran = SCHED_GRAN_cpu;
    i->pool.sched_gran = 1;
    i->sched.cpupool = &i->pool;
    i->idle_dom.domain_id = DOMID_IDLE;
    spin_lock_init(&i->free_lock);
    oc_live = i;
    if (i->sched.global_init && (*err = i->sched.global_init()) != 0)
        goto fail;
    if ((*err = sched_init(&i->sched)) != 0)
        goto fail;
    return i;
fail:
    oc_live = NULL;
    free(i);
    return NULL;
}

/* After a failed ASSERT unwound out of the core: the instance is left
 * as it is (leaked) and the thread may start another. */
void oc_abandon(struct oc_inst *i)
{
    (void)i;
    oc_live = NULL;
    oc_irq_off = false;
}

void oc_free(struct oc_inst *i)
{
    if (!i)
        return;
    oc_live = i;
    /* What the host left: every vCPU blocked and descheduled, then
     * destroyed with its domain, as Xen destroys a domain. */
    for (struct domain *d = i->doms; d; d = d->oc_next)
        for (struct sched_unit *u = d->sched_unit_list; u; u = u->next_in_list) {
            spinlock_t *lock;
            oc_this_cpu = u->vcpu_list->processor;
            lock = unit_schedule_lock_irq(u);
            u->vcpu_list->pause_flags |= VPF_down;
            oc_sleep_locked(i, u);
            unit_schedule_unlock_irq(lock, u);
        }
    for (unsigned int c = 0; c < NR_CPUS; c++) {
        struct oc_decision dec;
        struct sched_unit *prev;
        if (!cpumask_test_cpu(c, &i->pool_cpus) || is_idle_unit(get_sched_res(c)->curr))
            continue;
        prev = get_sched_res(c)->curr;
        oc_do_schedule(i, c, NOW(), false, false, &dec);
        oc_context_saved(i, prev);
    }
    while (i->doms) {
        struct domain *d = i->doms;
        while (d->sched_unit_list)
            oc_vcpu_free(i, d->sched_unit_list);
        oc_dom_free(i, d);
    }
    for (unsigned int c = 0; c < NR_CPUS; c++)
        if (cpumask_test_cpu(c, &i->pool_cpus))
            oc_remove_pcpu(i, c);
    sched_deinit(&i->sched);
    for (unsigned int c = 0; c < NR_CPUS; c++) {
        if (i->res[c]) {
            free_cpumask_var(i->res[c]->cpus);
            free(i->res[c]);
        }
        if (i->idle_vcpu[c])
            oc_vcpu_release(i->idle_vcpu[c]);
    }
    free(i->out);
    free(i);
    oc_live = NULL;
}

int oc_add_pcpu(struct oc_inst *i, unsigned int cpu)
{
    struct sched_resource *sr;
    struct vcpu *idle;
    void *ppriv, *vpriv;
    spinlock_t *new_lock;

    if (cpu >= NR_CPUS || cpumask_test_cpu(cpu, &i->pool_cpus))
        return -EINVAL;
    if (!i->res[cpu]) {
        sr = calloc(1, sizeof(*sr));
        idle = oc_vcpu_alloc(&i->idle_dom, cpu, cpu);
        if (!sr || !idle || !zalloc_cpumask_var(&sr->cpus)) {
            free(sr);
            if (idle)
                oc_vcpu_release(idle);
            return -ENOMEM;
        }
        __cpumask_set_cpu(cpu, sr->cpus);
        sr->master_cpu = cpu;
        sr->granularity = 1;
        sr->sched_unit_idle = idle->sched_unit;
        idle->sched_unit->res = sr;
        i->res[cpu] = sr;
        i->idle_vcpu[cpu] = idle;
    }
    sr = i->res[cpu];
    idle = i->idle_vcpu[cpu];
    sr->schedule_lock = &i->free_lock;
    sr->curr = idle->sched_unit;
    sr->prev = NULL;
    idle->sched_unit->is_running = true;
    idle->is_running = true;
    idle->sched_unit->runstate_cnt[RUNSTATE_running] = 1;
    idle->runstate.state = RUNSTATE_running;
    set_sched_res(cpu, sr);
    oc_current[cpu] = idle;
    oc_this_cpu = cpu;

    /* schedule_cpu_add() */
    ppriv = sched_alloc_pdata(&i->sched, cpu);
    if (IS_ERR(ppriv))
        return PTR_ERR(ppriv);
    vpriv = sched_alloc_udata(&i->sched, idle->sched_unit, i->idle_dom.sched_priv);
    if (!vpriv) {
        sched_free_pdata(&i->sched, ppriv, cpu);
        return -ENOMEM;
    }
    __cpumask_set_cpu(cpu, &cpu_online_map);
    __cpumask_set_cpu(cpu, &i->pool_cpus);
    __cpumask_set_cpu(cpu, &i->pool_res);
    {
        unsigned long flags;
        spin_lock_irqsave(&i->free_lock, flags);
        new_lock = sched_switch_sched(&i->sched, cpu, ppriv, vpriv);
        sr->scheduler = &i->sched;
        sr->sched_priv = ppriv;
        sr->cpupool = &i->pool;
        sr->schedule_lock = new_lock;
        spin_unlock_irqrestore(&i->free_lock, flags);
    }
    cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ);
    return 0;
}

int oc_remove_pcpu(struct oc_inst *i, unsigned int cpu)
{
    struct sched_resource *sr;
    struct sched_unit *idle;
    void *ppriv, *vpriv;
    spinlock_t *old_lock;

    if (cpu >= NR_CPUS || !cpumask_test_cpu(cpu, &i->pool_cpus))
        return -EINVAL;
    sr = i->res[cpu];
    idle = i->idle_vcpu[cpu]->sched_unit;
    if (sr->curr != idle)
        return -EBUSY;
    oc_this_cpu = cpu;
    /* cpupool_unassign_cpu(): the pool loses it first. */
    __cpumask_clear_cpu(cpu, &i->pool_cpus);
    __cpumask_clear_cpu(cpu, &i->pool_res);
    /* The pCPU's timers go to a live one (sched_migrate_timers). */
    if (!cpumask_empty(&i->pool_cpus))
        sched_move_timers(&i->sched, sr);
    ppriv = sr->sched_priv;
    vpriv = idle->priv;
    {
        unsigned long flags;
        old_lock = pcpu_schedule_lock_irqsave(cpu, &flags);
        idle->priv = NULL;
        sr->scheduler = NULL;
        sr->sched_priv = NULL;
        sr->cpupool = NULL;
        sr->schedule_lock = &i->free_lock;
        spin_unlock_irqrestore(old_lock, flags);
    }
    sched_deinit_pdata(&i->sched, ppriv, cpu);
    sched_free_udata(&i->sched, vpriv);
    sched_free_pdata(&i->sched, ppriv, cpu);
    __cpumask_clear_cpu(cpu, &cpu_online_map);
    return 0;
}

/* ---- domains and vCPUs ---- */
struct domain *oc_dom_new(struct oc_inst *i, unsigned int id, int *err)
{
    struct domain *d = calloc(1, sizeof(*d));
    void *p;
    *err = 0;
    if (!d) {
        *err = -ENOMEM;
        return NULL;
    }
    d->domain_id = id;
    d->cpupool = &i->pool;
    p = sched_alloc_domdata(&i->sched, d);
    if (IS_ERR(p)) {
        *err = PTR_ERR(p);
        free(d);
        return NULL;
    }
    d->sched_priv = p;
    d->oc_next = i->doms;
    i->doms = d;
    return d;
}

void oc_dom_free(struct oc_inst *i, struct domain *d)
{
    for (struct domain **p = &i->doms; *p; p = &(*p)->oc_next)
        if (*p == d) {
            *p = d->oc_next;
            break;
        }
    sched_free_domdata(&i->sched, d->sched_priv);
    free(d->vcpu);
    free(d);
}

/* Links `v` into its domain's vCPU and unit lists, in vcpu_id order. */
static int dom_link(struct domain *d, struct vcpu *v)
{
    struct sched_unit **pu = &d->sched_unit_list;
    struct vcpu *prev = NULL;
    if ((unsigned int)v->vcpu_id >= d->max_vcpus) {
        unsigned int n = v->vcpu_id + 1;
        struct vcpu **a = realloc(d->vcpu, n * sizeof(*a));
        if (!a)
            return -ENOMEM;
        memset(a + d->max_vcpus, 0, (n - d->max_vcpus) * sizeof(*a));
        d->vcpu = a;
        d->max_vcpus = n;
    }
    if (d->vcpu[v->vcpu_id])
        return -EEXIST;
    while (*pu && (*pu)->unit_id < v->sched_unit->unit_id) {
        prev = (*pu)->vcpu_list;
        pu = &(*pu)->next_in_list;
    }
    v->sched_unit->next_in_list = *pu;
    *pu = v->sched_unit;
    v->next_in_list = v->sched_unit->next_in_list ? v->sched_unit->next_in_list->vcpu_list : NULL;
    if (prev)
        prev->next_in_list = v;
    d->vcpu[v->vcpu_id] = v;
    return 0;
}

static void dom_unlink(struct domain *d, struct vcpu *v)
{
    struct vcpu *prev = NULL;
    for (struct sched_unit **pu = &d->sched_unit_list; *pu; pu = &(*pu)->next_in_list) {
        if (*pu == v->sched_unit) {
            *pu = v->sched_unit->next_in_list;
            break;
        }
        prev = (*pu)->vcpu_list;
    }
    if (prev)
        prev->next_in_list = v->next_in_list;
    d->vcpu[v->vcpu_id] = NULL;
}

struct sched_unit *oc_vcpu_new(struct oc_inst *i, struct domain *d, unsigned int id,
                               uintptr_t token, unsigned int cpu, const uint64_t *hard,
                               int *err)
{
    struct vcpu *v;
    struct sched_unit *u;
    cpumask_t h;
    *err = -EINVAL;
    if (cpumask_empty(&i->pool_cpus))
        return NULL;
    /* sched_select_initial_cpu(): the host's pick if the pool has it,
     * else the next pCPU after it that the pool and the hard affinity
     * allow (a host placing vCPUs round-robin before a pCPU left). */
    memcpy(h.bits, hard, sizeof(h));
    /* Pinned only to pCPUs out of the pool: Xen refuses such a pin, so the
     * vCPU may run anywhere in the pool (a host breaks it right after). */
    if (!cpumask_intersects(&h, &i->pool_cpus))
        cpumask_copy(&h, &i->pool_cpus);
    if (cpu >= NR_CPUS || !cpumask_test_cpu(cpu, &i->pool_cpus)) {
        cpumask_and(&h, &h, &i->pool_cpus);
        cpu = cpumask_cycle(cpu < NR_CPUS ? cpu : 0, &h);
        memcpy(h.bits, hard, sizeof(h));
        if (!cpumask_intersects(&h, &i->pool_cpus))
            cpumask_copy(&h, &i->pool_cpus);
    }
    v = oc_vcpu_alloc(d, id, cpu);
    *err = -ENOMEM;
    if (!v)
        return NULL;
    u = v->sched_unit;
    v->oc_token = token;
    v->pause_flags = VPF_blocked;
    v->runstate.state = RUNSTATE_blocked;
    cpumask_copy(u->cpu_hard_affinity, &h);
    /* sched_init_vcpu(): the unit starts on the core's initial pCPU. */
    sched_set_res(u, get_sched_res(cpu));
    if ((*err = dom_link(d, v)) != 0) {
        oc_vcpu_release(v);
        return NULL;
    }
    oc_this_cpu = cpu;
    u->priv = sched_alloc_udata(&i->sched, u, d->sched_priv);
    if (!u->priv) {
        dom_unlink(d, v);
        oc_vcpu_release(v);
        *err = -ENOMEM;
        return NULL;
    }
    sched_insert_unit(&i->sched, u);
    *err = 0;
    return u;
}

void oc_vcpu_free(struct oc_inst *i, struct sched_unit *u)
{
    struct vcpu *v = u->vcpu_list;
    oc_this_cpu = v->processor;
    /* Going away, it is down: unparking it (credit1's remove) must not
     * wake it, as the dying domain's pause keeps Xen from waking it. */
    v->pause_flags |= VPF_down;
    sched_remove_unit(&i->sched, u);
    sched_free_udata(&i->sched, u->priv);
    dom_unlink(u->domain, v);
    oc_vcpu_release(v);
}

/*
 * The scheduler asks for a running vCPU to move by setting _VPF_migrating
 * (credit1's tick and tickle): Xen's core acts on it at the next
 * deschedule. The flag is set by an inline bit operation, so the core
 * looks for it after each call into the scheduler and tells the host.
 */
static void report_migrations(struct oc_inst *i)
{
    unsigned int c;
    for_each_cpu (c, &i->pool_cpus) {
        struct vcpu *v = oc_current[c];
        if (v && !is_idle_vcpu(v) && (v->pause_flags & VPF_migrating) && !v->oc_migrate_told) {
            v->oc_migrate_told = true;
            i->cb.migrate(i->cb.ctx, v->oc_token);
        }
    }
}

/* vcpu_sleep_nosync_locked(), once the vCPU is not runnable. */
static void oc_sleep_locked(struct oc_inst *i, struct sched_unit *u)
{
    if (!unit_runnable(u))
        sched_sleep(&i->sched, u);
}

/* vcpu_wake() under the lock, once the vCPU may be runnable. */
static void oc_wake_locked(struct oc_inst *i, struct sched_unit *u)
{
    struct vcpu *v = u->vcpu_list;
    if (vcpu_runnable(v)) {
        if (v->runstate.state >= RUNSTATE_blocked)
            v->runstate.state = RUNSTATE_runnable;
        sched_wake(&i->sched, u);
    }
}

/* The host's sleep: the vCPU blocked (or the host paused it). */
void oc_sleep(struct oc_inst *i, struct sched_unit *u)
{
    struct vcpu *v = u->vcpu_list;
    spinlock_t *lock;
    if (v->oc_pause_echo) {
        v->oc_pause_echo = false;
        return;
    }
    oc_this_cpu = v->processor;
    lock = unit_schedule_lock_irq(u);
    v->pause_flags |= VPF_blocked;
    oc_sleep_locked(i, u);
    unit_schedule_unlock_irq(lock, u);
    report_migrations(i);
}

/* The host's wake: the vCPU has work (a parked one stays paused). */
void oc_wake(struct oc_inst *i, struct sched_unit *u)
{
    struct vcpu *v = u->vcpu_list;
    spinlock_t *lock;
    oc_this_cpu = v->oc_wake_cpu < NR_CPUS ? v->oc_wake_cpu : v->processor;
    v->oc_wake_cpu = NR_CPUS;
    lock = unit_schedule_lock_irq(u);
    v->pause_flags &= ~VPF_blocked;
    oc_wake_locked(i, u);
    unit_schedule_unlock_irq(lock, u);
    report_migrations(i);
}

void oc_yield(struct oc_inst *i, struct sched_unit *u)
{
    spinlock_t *lock;
    oc_this_cpu = u->vcpu_list->processor;
    lock = unit_schedule_lock_irq(u);
    sched_yield(&i->sched, u);
    unit_schedule_unlock_irq(lock, u);
}

void oc_context_saved(struct oc_inst *i, struct sched_unit *u)
{
    struct sched_resource *sr = u->res;
    oc_this_cpu = u->vcpu_list->processor;
    u->is_running = false;
    u->vcpu_list->is_running = false;
    u->state_entry_time = NOW();
    if (sr->prev == u)
        sr->prev = NULL;
    sched_context_saved(&i->sched, u);
}

void oc_do_schedule(struct oc_inst *i, unsigned int cpu, s_time_t now, bool prev_runnable,
                    bool tasklet, struct oc_decision *out)
{
    struct sched_resource *sr = get_sched_res(cpu);
    struct sched_unit *prev = sr->curr, *next;
    struct vcpu *vprev = prev->vcpu_list;
    spinlock_t *lock;

    oc_this_cpu = cpu;
    /* The host's word on prev, when the core has no reason of its own
     * (parked, migrating) for it not to run on. */
    if (!is_idle_unit(prev) && !prev_runnable && vcpu_runnable(vprev))
        vprev->pause_flags |= VPF_blocked;
    lock = pcpu_schedule_lock_irq(cpu);
    i->sched.do_schedule(&i->sched, prev, now, tasklet);
    next = prev->next_task;
    /* sched_switch_units() */
    if (prev != next) {
        struct vcpu *vnext = next->vcpu_list;
        sr->curr = next;
        sr->prev = prev;
        ASSERT(!next->is_running);
        next->is_running = true;
        next->state_entry_time = now;
        if (is_idle_unit(prev)) {
            prev->runstate_cnt[RUNSTATE_running] = 0;
            prev->runstate_cnt[RUNSTATE_runnable] = 1;
            /* Idle's context is never saved by the host. */
            prev->is_running = false;
            vprev->is_running = false;
            sr->prev = NULL;
        }
        if (is_idle_unit(next)) {
            next->runstate_cnt[RUNSTATE_running] = 1;
            next->runstate_cnt[RUNSTATE_runnable] = 0;
        }
        vprev->runstate.state = (vprev->pause_flags & VPF_blocked) ? RUNSTATE_blocked
                              : vcpu_runnable(vprev) ? RUNSTATE_runnable : RUNSTATE_offline;
        vnext->runstate.state = RUNSTATE_running;
        vnext->is_running = true;
        oc_current[cpu] = vnext;
    }
    pcpu_schedule_unlock_irq(lock, cpu);
    out->idle = is_idle_unit(next);
    out->token = out->idle ? 0 : next->vcpu_list->oc_token;
    out->slice = prev->next_time;
    out->migrated = next->migrated;
    report_migrations(i);
}

unsigned int oc_pick_cpu(struct oc_inst *i, struct sched_unit *u)
{
    spinlock_t *lock;
    unsigned int cpu;
    oc_this_cpu = u->vcpu_list->processor;
    lock = unit_schedule_lock_irq(u);
    cpu = sched_pick_resource(&i->sched, u)->master_cpu;
    unit_schedule_unlock_irq(lock, u);
    return cpu;
}

/* sched_unit_move_locked(), with both pCPUs' locks as Xen takes them. */
void oc_migrate(struct oc_inst *i, struct sched_unit *u, unsigned int cpu)
{
    unsigned int old = u->res->master_cpu;
    spinlock_t *a = get_sched_res(old)->schedule_lock;
    spinlock_t *b = get_sched_res(cpu)->schedule_lock;
    struct vcpu *v = u->vcpu_list;
    oc_this_cpu = old;
    local_irq_disable();
    spin_lock(a);
    if (b != a)
        spin_lock(b);
    v->pause_flags &= ~VPF_migrating;
    v->oc_migrate_told = false;
    if (cpu != old)
        v->oc_wake_cpu = old;
    sched_migrate(&i->sched, u, cpu);
    if (b != a)
        spin_unlock(b);
    spin_unlock(a);
    local_irq_enable();
}

/* sched_set_affinity() under the unit's lock, as vcpu_set_affinity(). */
void oc_set_affinity(struct oc_inst *i, struct sched_unit *u, const uint64_t *hard,
                     const uint64_t *soft)
{
    cpumask_t h, s;
    spinlock_t *lock;
    memcpy(h.bits, hard, sizeof(h));
    memcpy(s.bits, soft, sizeof(s));
    oc_this_cpu = u->vcpu_list->processor;
    lock = unit_schedule_lock_irq(u);
    sched_adjust_affinity(&i->sched, u, &h, &s);
    cpumask_copy(u->cpu_hard_affinity, &h);
    cpumask_copy(u->cpu_soft_affinity, &s);
    u->soft_aff_effective = !cpumask_subset(u->cpu_hard_affinity, u->cpu_soft_affinity) &&
                            cpumask_intersects(u->cpu_soft_affinity, u->cpu_hard_affinity);
    unit_schedule_unlock_irq(lock, u);
}

void oc_timer_fired(struct oc_inst *i, unsigned int cpu)
{
    s_time_t now = NOW();
    i->firing = true;
    for (;;) {
        struct timer *due = NULL;
        for (struct timer *t = i->timers[cpu]; t; t = t->oc_next)
            if (t->status == TIMER_STATUS_in_heap && t->expires <= now &&
                (!due || t->expires < due->expires ||
                 (t->expires == due->expires && t->oc_seq < due->oc_seq)))
                due = t;
        if (!due)
            break;
        due->status = TIMER_STATUS_inactive;
        oc_this_cpu = cpu;
        due->function(due->data);
    }
    i->firing = false;
    i->armed[cpu] = -2; /* force the host timer to be re-armed or stopped */
    timer_sync(i, cpu);
    report_migrations(i);
}

/*
 * A domain's parameters through the scheduler's `adjust` (domctl
 * getinfo/putinfo), as three numbers: credit and credit2 (weight, cap),
 * RTDS (period us, budget us, extratime 0/1). Xen's own checks decide.
 */
int oc_dom_params(struct oc_inst *i, struct domain *d, bool put, uint32_t p[3])
{
    struct xen_domctl_scheduler_op op;
    int rc;
    memset(&op, 0, sizeof(op));
    op.sched_id = i->sched.sched_id;
    op.cmd = put ? XEN_DOMCTL_SCHEDOP_putinfo : XEN_DOMCTL_SCHEDOP_getinfo;
    if (put) {
        switch (op.sched_id) {
        case XEN_SCHEDULER_CREDIT:
            op.u.credit.weight = p[0];
            op.u.credit.cap = p[1];
            break;
        case XEN_SCHEDULER_CREDIT2:
            op.u.credit2.weight = p[0];
            op.u.credit2.cap = p[1];
            break;
        case XEN_SCHEDULER_RTDS:
            op.u.rtds.period = p[0];
            op.u.rtds.budget = p[1];
            op.u.rtds.flags = p[2] ? XEN_DOMCTL_SCHEDRT_extra : 0;
            break;
        }
    }
    oc_this_cpu = cpumask_first(&i->pool_cpus) < NR_CPUS ? cpumask_first(&i->pool_cpus) : 0;
    rc = sched_adjust_dom(&i->sched, d, &op);
    if (rc || put)
        return rc;
    switch (op.sched_id) {
    case XEN_SCHEDULER_CREDIT:
        p[0] = op.u.credit.weight;
        p[1] = op.u.credit.cap;
        break;
    case XEN_SCHEDULER_CREDIT2:
        p[0] = op.u.credit2.weight;
        p[1] = op.u.credit2.cap;
        break;
    case XEN_SCHEDULER_RTDS:
        p[0] = op.u.rtds.period;
        p[1] = op.u.rtds.budget;
        p[2] = !!(op.u.rtds.flags & XEN_DOMCTL_SCHEDRT_extra);
        break;
    }
    return 0;
}

/*
 * The pool's parameters through `adjust_global` (sysctl): credit
 * (tslice ms, ratelimit us, migration delay us), credit2 (ratelimit us).
 */
int oc_pool_params(struct oc_inst *i, bool put, uint32_t p[3])
{
    struct xen_sysctl_scheduler_op op;
    int rc;
    memset(&op, 0, sizeof(op));
    op.sched_id = i->sched.sched_id;
    op.cmd = put ? XEN_SYSCTL_SCHEDOP_putinfo : XEN_SYSCTL_SCHEDOP_getinfo;
    if (put && op.sched_id == XEN_SCHEDULER_CREDIT) {
        op.u.sched_credit.tslice_ms = p[0];
        op.u.sched_credit.ratelimit_us = p[1];
        op.u.sched_credit.vcpu_migr_delay_us = p[2];
    } else if (put && op.sched_id == XEN_SCHEDULER_CREDIT2) {
        op.u.sched_credit2.ratelimit_us = p[0];
    }
    oc_this_cpu = cpumask_first(&i->pool_cpus) < NR_CPUS ? cpumask_first(&i->pool_cpus) : 0;
    rc = sched_adjust_cpupool(&i->sched, &op);
    if (rc)
        return rc;
    if (op.sched_id == XEN_SCHEDULER_CREDIT) {
        p[0] = op.u.sched_credit.tslice_ms;
        p[1] = op.u.sched_credit.ratelimit_us;
        p[2] = op.u.sched_credit.vcpu_migr_delay_us;
    } else if (op.sched_id == XEN_SCHEDULER_CREDIT2) {
        p[0] = op.u.sched_credit2.ratelimit_us;
    }
    return 0;
}

unsigned int oc_processor(const struct sched_unit *u)
{
    return u->res->master_cpu;
}

const uint64_t *oc_hard_affinity(const struct sched_unit *u)
{
    return (const uint64_t *)u->cpu_hard_affinity->bits;
}

const uint64_t *oc_soft_affinity(const struct sched_unit *u)
{
    return (const uint64_t *)u->cpu_soft_affinity->bits;
}

bool oc_running_on(struct oc_inst *i, unsigned int cpu, uintptr_t *token)
{
    struct sched_resource *sr;
    if (cpu >= NR_CPUS || !cpumask_test_cpu(cpu, &i->pool_cpus))
        return false;
    sr = get_sched_res(cpu);
    if (is_idle_unit(sr->curr))
        return false;
    *token = sr->curr->vcpu_list->oc_token;
    return true;
}

const char *oc_dump(struct oc_inst *i, int cpu)
{
    i->out_len = 0;
    if (!i->out) {
        i->out = malloc(256);
        if (!i->out)
            return "";
        i->out_cap = 256;
    }
    i->out[0] = 0;
    if (cpu < 0)
        sched_dump_settings(&i->sched);
    else if (cpumask_test_cpu(cpu, &i->pool_cpus))
        sched_dump_cpu_state(&i->sched, cpu);
    return i->out;
}
