/*
 * The boundary between Xen's C side (the shim in rs_shim.c) and the Rust
 * schedulers (the xen-glue crate). Every function here is implemented on
 * exactly one side; the Rust declarations in xen-glue/src/abi.rs mirror it
 * field for field.
 *
 * Calling rules the shim keeps:
 *  - Rust is entered with local interrupts disabled (the shim wraps the
 *    entries Xen calls with interrupts on: timers, context_saved,
 *    insert/remove, alloc/free, adjust), so Rust's own spinlocks never meet
 *    an interrupt that re-enters the scheduler on the same pCPU.
 *  - `inst` is the pointer rs_sched_init returned (kept in ops->sched_data);
 *    `v` is the pointer rs_sched_alloc_udata returned (kept in unit->priv);
 *    `dom` is the pointer rs_sched_alloc_domdata returned (d->sched_priv).
 *    The idle units and the idle domain never reach Rust.
 *  - cpumasks are passed as RS_MASK_WORDS 64-bit words, lowest pCPU first
 *    (cpumask_bits() with NR_CPUS = 256).
 */
#ifndef RS_SCHED_H
#define RS_SCHED_H

#define RS_MASK_WORDS 4

/* Timer kinds Rust arms through rs_xen_set_timer / rs_xen_stop_timer. */
#define RS_TIMER_TICK   0     /* per pCPU: the 10 ms credit tick           */
#define RS_TIMER_ACCT   1     /* one per instance, on the master pCPU      */
#define RS_TIMER_POLICY 2     /* per pCPU: a policy layer's (EDF poll)     */

/* What do_schedule decided. */
struct rs_decision {
    void *unit;          /* struct sched_unit * to run; NULL = the idle unit */
    int64_t next_time;   /* ns until the next decision; < 0 = none           */
    uint8_t migrated;    /* it was taken from another pCPU's runqueue        */
    uint8_t pad[7];
};

/* Per-domain parameters: XEN_DOMCTL_SCHEDOP_{get,put}info for the three
 * schedulers (same layout as xen_domctl_sched_rsched in the public-header
 * patch). On putinfo a weight of 0 leaves the weight unchanged (as credit);
 * every other field is the new value; a field the booted policy does not
 * have must be 0; pad must be 0. Any bad value: -EINVAL and nothing changes. */
struct rs_dom_params {
    uint16_t weight;         /* 1..65535                                     */
    uint16_t cap;            /* % of one pCPU, 0 = none, <= 100 x vCPUs      */
    uint32_t microslice_us;  /* vslicer: 0 = not latency-sensitive, 1..1000 ms */
    uint32_t deadline_us;    /* edf: 100 us..4 s, 0 when not real-time       */
    uint32_t reserve_us;     /* edf: credit reserved for event wakes, <= tslice */
    uint8_t  rt_mode;        /* edf: 0 none, 1 periodic, 2 aperiodic         */
    uint8_t  driver;         /* edf: 1 = the driver domain (dom0); read-only */
    uint16_t pad;
    /* vslicer, read-only (ignored on putinfo): automatic LSVM detection */
    uint32_t auto_microslice_us; /* the microslice it gave, 0 = NLSVM        */
    uint32_t auto_events;        /* events/s in its last window             */
    uint32_t auto_burst_us;      /* mean run burst in that window           */
    uint32_t auto_changes;       /* class changes so far                    */
};

/* Pool-wide parameters: XEN_SYSCTL_SCHEDOP_{get,put}info (same layout as
 * xen_sysctl_rsched_schedule). A bad value: -EINVAL, nothing changes. */
struct rs_global_params {
    uint32_t tslice_ms;          /* 1..1000                                 */
    uint32_t ratelimit_us;       /* 0 or 100..500000, <= tslice             */
    uint32_t vcpu_migr_delay_us; /* 0..100000                               */
    uint32_t poll_us;            /* edf: 100..100000; else must be 0         */
    uint32_t edf_slice_us;       /* edf: 100..tslice; else must be 0         */
    uint32_t flags;              /* vslicer: RS_GLOBAL_AUTO_LSVM; else 0    */
};

/* rs_global_params.flags: vslicer classifies domains without a microslice. */
#define RS_GLOBAL_AUTO_LSVM 1u

#define RS_CMD_PUTINFO 0
#define RS_CMD_GETINFO 1
/* Credit1's putinfo (a toolstack that takes these schedulers for credit):
 * weight and cap (0 and 0xFFFF keep theirs), or timeslice, ratelimit and
 * migration delay; the policy's own parameters stay as they are. */
#define RS_CMD_PUTINFO_CREDIT 2

/* ---- Implemented in Rust (xen-glue), called by the shim ---------------- */

/* A scheduler instance (one per cpupool) of the policy registered as
 * `sched_id` (rs_policies.h); NULL when out of memory or an unknown id.
 * `host` is handed back in rs_xen_set_timer/stop_timer. */
void *rs_sched_init(uint32_t sched_id, void *host);
void rs_sched_deinit(void *inst);
/* The pCPU joins / leaves the instance (switch_sched / deinit_pdata). */
void rs_sched_add_pcpu(void *inst, uint32_t cpu);
void rs_sched_remove_pcpu(void *inst, uint32_t cpu);

/* NULL when out of memory. */
void *rs_sched_alloc_domdata(void *inst, uint16_t domid);
void rs_sched_free_domdata(void *inst, void *dom);
/* `unit` is the struct sched_unit * (handed back in decisions and in the
 * pause/migrate requests); `hard` its hard affinity. NULL when out of memory. */
void *rs_sched_alloc_udata(void *inst, void *unit, void *dom, uint16_t unit_id,
                           const uint64_t *hard);
void rs_sched_free_udata(void *inst, void *v);

/* Places the new unit and returns its pCPU: the shim sched_set_res()es it. */
uint32_t rs_sched_insert_unit(void *inst, void *v);
void rs_sched_remove_unit(void *inst, void *v);
void rs_sched_sleep(void *inst, void *v);
/* `event`: the unit was blocked, so an event (I/O) woke it. */
void rs_sched_wake(void *inst, void *v, uint8_t event);
/* An event (I/O) reached the unit while it was runnable or running. */
void rs_sched_event(void *inst, void *v);
void rs_sched_yield(void *inst, void *v);
void rs_sched_context_saved(void *inst, void *v);
void rs_sched_do_schedule(void *inst, uint32_t cpu, int64_t now,
                          uint8_t prev_runnable, uint8_t tasklet_work,
                          struct rs_decision *out);
uint32_t rs_sched_pick_cpu(void *inst, void *v);
void rs_sched_migrate(void *inst, void *v, uint32_t cpu);
/* NULL = unchanged. */
void rs_sched_adjust_affinity(void *inst, void *v, const uint64_t *hard,
                              const uint64_t *soft);
/* 0 or -EINVAL (-22). */
int rs_sched_adjust(void *inst, void *dom, uint32_t cmd, struct rs_dom_params *p);
int rs_sched_adjust_global(void *inst, uint32_t cmd, struct rs_global_params *p);
void rs_sched_timer_fired(void *inst, uint32_t cpu, uint32_t kind);
void rs_sched_dump_settings(void *inst);
void rs_sched_dump_cpu(void *inst, uint32_t cpu);

/* ---- Implemented by the shim (C, over Xen's inline APIs), called by Rust -- */

int64_t rs_xen_now(void);                          /* NOW()                     */
void rs_xen_raise_softirq(uint32_t cpu);           /* SCHEDULE_SOFTIRQ          */
void rs_xen_set_timer(void *host, uint32_t cpu, uint32_t kind, int64_t at);
void rs_xen_stop_timer(void *host, uint32_t cpu, uint32_t kind);
/* Called with no Rust lock held and outside every schedule lock (Rust
 * defers them to the end of rs_sched_timer_fired / rs_sched_remove_unit). */
void rs_xen_pause_unit(void *unit);                /* sched_unit_pause_nosync   */
void rs_xen_unpause_unit(void *unit);              /* sched_unit_unpause        */
/* May be called under schedule locks: sets _VPF_migrating only. */
void rs_xen_migrate_unit(void *unit);
/* Work stealing, from do_schedule (this pCPU's schedule lock held,
 * interrupts off): try-lock pCPU `cpu`'s schedule lock (1 if taken; never
 * spins), set a stolen unit's resource under it, release it. */
uint8_t rs_xen_trylock_peer(uint32_t cpu);
void rs_xen_set_res(void *unit, uint32_t cpu);
void rs_xen_unlock_peer(uint32_t cpu);
void *rs_xen_alloc(unsigned long size, unsigned long align);  /* _xzalloc  */
void rs_xen_free(void *p);                                      /* xfree     */
void rs_xen_print(const char *s, unsigned long len);           /* printk    */
void rs_xen_panic(const char *s, unsigned long len);           /* panic     */

#endif /* RS_SCHED_H */
