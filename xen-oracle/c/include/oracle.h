/*
 * The hypervisor as Xen 4.17's schedulers see it, in userspace.
 *
 * Every header under `xen/` and `asm/` the schedulers include (except
 * Xen's own `xen/list.h` and the `public/` headers, used as they are)
 * forwards here. What Xen keeps per CPU is an array indexed by CPU
 * number, and "the CPU running this code" is `oc_this_cpu`: both are
 * thread-local, so each thread may drive one scheduler instance of its
 * own (tests run in parallel threads). Locks are real flags that
 * Xen's ASSERTs can check; an ASSERT that fails aborts with its place.
 *
 * Only declarations the schedulers use are here; `core.c` (this
 * directory's parent) is the rest of the hypervisor: the scheduler core.
 */
#ifndef ORACLE_H
#define ORACLE_H

#define __XEN__ 1
#define __XEN_TOOLS__ 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <limits.h>
#include <inttypes.h>

/* ---- compiler ---- */
#define cf_check
#define __init
#define __initdata
#define __exit
#define __read_mostly
#define __ro_after_init
#define __used __attribute__((__used__))
#define __used_section(s) __attribute__((__used__, __section__(s)))
#define __maybe_unused __attribute__((__unused__))
#define __packed __attribute__((__packed__))
#define __must_check
#define always_inline inline __attribute__((__always_inline__))
#define noinline __attribute__((__noinline__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define smp_mb() __sync_synchronize()
#define smp_rmb() barrier()
#define smp_wmb() barrier()
#define smp_read_barrier_depends() do {} while (0)
#define cpu_relax() barrier()
#define block_lock_speculation() do {} while (0)
#define ACCESS_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define read_atomic(p) (*(volatile __typeof__(*(p)) *)(p))
#define write_atomic(p, x) (*(volatile __typeof__(*(p)) *)(p) = (x))
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BUILD_BUG_ON(c) _Static_assert(!(c), #c)
#define min(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })
#define min_t(t, a, b) min((t)(a), (t)(b))
#define max_t(t, a, b) max((t)(a), (t)(b))
#define count_args_(dot, a1, a2, a3, a4, a5, a6, a7, a8, x, ...) x
#define count_args(args...) \
    count_args_(., ## args, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define IS_ENABLED(c) 0
#define prefetch(x) ((void)(x))

/* ---- types ---- */
typedef int64_t s_time_t;
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef uint16_t domid_t;
#define STIME_MAX INT64_MAX
#define PRI_stime PRId64
#define STIME_DELTA_MAX ((s_time_t)((uint64_t)~0ULL >> 2))

/* ---- errors, panics, printing ---- */
#define EPERM 1
#define ENOENT 2
#define ENOMEM 12
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define EOPNOTSUPP 95
#define EFAULT 14
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) unlikely((unsigned long)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long e) { return (void *)e; }
static inline long PTR_ERR(const void *p) { return (long)p; }
static inline bool IS_ERR(const void *p) { return IS_ERR_VALUE(p); }
static inline bool IS_ERR_OR_NULL(const void *p) { return !p || IS_ERR_VALUE(p); }

void oc_fail(const char *what, const char *file, int line) __attribute__((__noreturn__));
/* Xen's printk: its `%*pbl` is not C's, so no format checking. */
void oc_printk(const char *fmt, ...);
#define ASSERT(p) do { if (unlikely(!(p))) oc_fail("ASSERT(" #p ")", __FILE__, __LINE__); } while (0)
#define ASSERT_UNREACHABLE() oc_fail("unreachable", __FILE__, __LINE__)
#define BUG() oc_fail("BUG", __FILE__, __LINE__)
#define BUG_ON(p) do { if (unlikely(p)) oc_fail("BUG_ON(" #p ")", __FILE__, __LINE__); } while (0)
#define WARN_ON(p) ({ bool _w = !!(p); if (unlikely(_w)) oc_printk("WARN_ON %s:%d\n", __FILE__, __LINE__); _w; })
#define WARN() oc_printk("WARN %s:%d\n", __FILE__, __LINE__)
#define printk oc_printk
#define XENLOG_INFO ""
#define XENLOG_WARNING ""
#define XENLOG_ERR ""
#define XENLOG_G_INFO ""
#define XENLOG_G_WARNING ""
#define XENLOG_G_ERR ""
#define XENLOG_G_DEBUG ""
#define KERN_INFO ""
#define KERN_WARNING ""
#define KERN_ERR ""
#define dprintk(l, f, a...) oc_printk(f, ## a)
#define gdprintk(l, f, a...) oc_printk(f, ## a)
#define ASSERT_NOT_IN_ATOMIC() do {} while (0)
#define perfc_incr(x) do {} while (0)
#define perfc_decr(x) do {} while (0)
#define perfc_add(x, y) do {} while (0)
#define SCHED_STAT_CRANK(x) do {} while (0)
/* The cpumask format `%*pbl`: printed as a count of CPUs (dumps only). */
#define CPUMASK_PR(m) 0, (const void *)(m)
#define nr_cpumask_bits NR_CPUS

/* ---- boot parameters: the defaults stand ---- */
#define integer_param(n, v)
#define boolean_param(n, v)
#define custom_param(n, f) \
    static int (*const oc_param_##f)(const char *) __attribute__((__unused__)) = f;
#define string_param(n, v)
#define size_param(n, v)

/* ---- time ---- */
#define MILLISECS(ms) ((s_time_t)((ms) * 1000000ULL))
#define MICROSECS(us) ((s_time_t)((us) * 1000ULL))
#define SECONDS(s) ((s_time_t)((s) * 1000000000ULL))
s_time_t oc_now(void);
#define NOW() oc_now()
#define do_div(n, base) ({ uint32_t _b = (base); uint32_t _r = (uint64_t)(n) % _b; (n) = (uint64_t)(n) / _b; _r; })

/* ---- CPUs and masks ---- */
#define NR_CPUS 256
#define BITS_PER_LONG 64
#define BITS_TO_LONGS(b) (((b) + BITS_PER_LONG - 1) / BITS_PER_LONG)
extern __thread unsigned int oc_this_cpu;
#define smp_processor_id() (oc_this_cpu)
#define nr_cpu_ids NR_CPUS
#define num_online_cpus() cpumask_weight(&cpu_online_map)
#define cpu_online(c) cpumask_test_cpu((c), &cpu_online_map)

typedef struct cpumask { unsigned long bits[BITS_TO_LONGS(NR_CPUS)]; } cpumask_t;
typedef cpumask_t *cpumask_var_t;
typedef struct { unsigned long bits[1]; } nodemask_t;
extern __thread cpumask_t cpu_online_map;
#define cpumask_bits(m) ((m)->bits)

static inline void __cpumask_set_cpu(int c, cpumask_t *m) { m->bits[c / 64] |= 1UL << (c % 64); }
static inline void __cpumask_clear_cpu(int c, cpumask_t *m) { m->bits[c / 64] &= ~(1UL << (c % 64)); }
#define cpumask_set_cpu __cpumask_set_cpu
#define cpumask_clear_cpu __cpumask_clear_cpu
static inline bool cpumask_test_cpu(unsigned int c, const cpumask_t *m)
{ ASSERT(c < NR_CPUS); return (m->bits[c / 64] >> (c % 64)) & 1; }
static inline bool cpumask_test_and_set_cpu(int c, cpumask_t *m)
{ bool o = cpumask_test_cpu(c, m); __cpumask_set_cpu(c, m); return o; }
static inline bool cpumask_test_and_clear_cpu(int c, cpumask_t *m)
{ bool o = cpumask_test_cpu(c, m); __cpumask_clear_cpu(c, m); return o; }
#define OC_MASK_OP(name, expr) \
static inline void name(cpumask_t *d, const cpumask_t *a, const cpumask_t *b) \
{ for (unsigned int i = 0; i < BITS_TO_LONGS(NR_CPUS); i++) d->bits[i] = (expr); }
OC_MASK_OP(cpumask_and, a->bits[i] & b->bits[i])
OC_MASK_OP(cpumask_or, a->bits[i] | b->bits[i])
OC_MASK_OP(cpumask_andnot, a->bits[i] & ~b->bits[i])
OC_MASK_OP(cpumask_xor, a->bits[i] ^ b->bits[i])
#undef OC_MASK_OP
static inline void cpumask_copy(cpumask_t *d, const cpumask_t *s) { *d = *s; }
static inline void cpumask_clear(cpumask_t *m) { memset(m, 0, sizeof(*m)); }
static inline void cpumask_setall(cpumask_t *m) { memset(m, 0xff, sizeof(*m)); }
static inline bool cpumask_empty(const cpumask_t *m)
{ for (unsigned int i = 0; i < BITS_TO_LONGS(NR_CPUS); i++) if (m->bits[i]) return false; return true; }
static inline bool cpumask_full(const cpumask_t *m)
{ for (unsigned int i = 0; i < BITS_TO_LONGS(NR_CPUS); i++) if (~m->bits[i]) return false; return true; }
static inline bool cpumask_equal(const cpumask_t *a, const cpumask_t *b)
{ return !memcmp(a, b, sizeof(*a)); }
static inline bool cpumask_intersects(const cpumask_t *a, const cpumask_t *b)
{ for (unsigned int i = 0; i < BITS_TO_LONGS(NR_CPUS); i++) if (a->bits[i] & b->bits[i]) return true; return false; }
static inline bool cpumask_subset(const cpumask_t *a, const cpumask_t *b)
{ for (unsigned int i = 0; i < BITS_TO_LONGS(NR_CPUS); i++) if (a->bits[i] & ~b->bits[i]) return false; return true; }
static inline unsigned int cpumask_weight(const cpumask_t *m)
{ unsigned int n = 0; for (unsigned int i = 0; i < BITS_TO_LONGS(NR_CPUS); i++) n += __builtin_popcountl(m->bits[i]); return n; }
/* The first set bit at or after `n`, or NR_CPUS. */
static inline unsigned int oc_mask_from(const cpumask_t *m, unsigned int n)
{
    for (; n < NR_CPUS; n++)
        if (cpumask_test_cpu(n, m))
            return n;
    return NR_CPUS;
}
static inline unsigned int cpumask_first(const cpumask_t *m) { return oc_mask_from(m, 0); }
static inline unsigned int cpumask_next(int n, const cpumask_t *m) { return oc_mask_from(m, n + 1); }
static inline unsigned int cpumask_last(const cpumask_t *m)
{ for (int n = NR_CPUS - 1; n >= 0; n--) if (cpumask_test_cpu(n, m)) return n; return NR_CPUS; }
static inline unsigned int cpumask_cycle(int n, const cpumask_t *m)
{
    unsigned int nxt = cpumask_next(n, m);
    if (nxt == NR_CPUS)
        nxt = cpumask_first(m);
    return nxt;
}
static inline unsigned int cpumask_test_or_cycle(int n, const cpumask_t *m)
{ return cpumask_test_cpu(n, m) ? (unsigned int)n : cpumask_cycle(n, m); }
#define __cpumask_test_and_clear_cpu cpumask_test_and_clear_cpu
static inline unsigned int cpumask_any(const cpumask_t *m) { return cpumask_first(m); }
extern const cpumask_t *oc_cpumask_of(unsigned int cpu);
#define cpumask_of(c) oc_cpumask_of(c)
#define for_each_cpu(c, m) \
    for ((c) = cpumask_first(m); (c) < NR_CPUS; (c) = cpumask_next((c), (m)))
#define for_each_online_cpu(c) for_each_cpu(c, &cpu_online_map)
static inline bool alloc_cpumask_var(cpumask_var_t *m) { *m = malloc(sizeof(cpumask_t)); return *m != NULL; }
static inline bool zalloc_cpumask_var(cpumask_var_t *m) { *m = calloc(1, sizeof(cpumask_t)); return *m != NULL; }
static inline void free_cpumask_var(cpumask_var_t m) { free(m); }
static inline bool cond_zalloc_cpumask_var(cpumask_var_t *m) { return *m ? true : zalloc_cpumask_var(m); }

/* NUMA: one node holding every CPU. */
#define MAX_NUMNODES 1
#define NUMA_NO_NODE 0xff
#define cpu_to_node(c) 0
/* A flat topology: every CPU a core of its own, all in socket 0. */
#define cpu_to_socket(c) 0
#define cpu_to_core(c) (c)
#define cpu_nr_siblings(c) 1
#define node_to_cpumask(n) (cpu_online_map)
#define nodes_empty(m) (!((m).bits[0]))
#define node_isset(n, m) (((m).bits[0] >> (n)) & 1)
#define first_node(m) 0
#define next_node(n, m) MAX_NUMNODES
#define cycle_node(n, m) 0
#define for_each_node_mask(n, m) for ((n) = 0; (n) < MAX_NUMNODES; (n)++)

/* ---- per-CPU data: a thread-local array ---- */
#define DECLARE_PER_CPU(type, name) extern __thread __typeof__(type) per_cpu__##name[NR_CPUS]
/* Each definition also registers (at program start) a function zeroing
 * this thread's copy, which a new instance calls: Xen's per-CPU data
 * starts zeroed at boot, and so must it for every scheduler instance a
 * thread runs (credit1's `last_tickle_cpu`, for one, steers tickling). */
struct oc_zero {
    void (*zero)(void);
    struct oc_zero *next;
};
void oc_register_zero(struct oc_zero *z);
#define DEFINE_PER_CPU(type, name) \
    __thread __typeof__(type) per_cpu__##name[NR_CPUS]; \
    static void oc_zero_##name(void) { memset(per_cpu__##name, 0, sizeof(per_cpu__##name)); } \
    static struct oc_zero oc_zero_rec_##name = { oc_zero_##name, NULL }; \
    __attribute__((__constructor__)) static void oc_zero_reg_##name(void) \
    { oc_register_zero(&oc_zero_rec_##name); } \
    extern int oc_zero_unused_##name
#define DEFINE_PER_CPU_READ_MOSTLY DEFINE_PER_CPU
#define per_cpu(name, cpu) (per_cpu__##name[(cpu)])
#define this_cpu(name) per_cpu(name, smp_processor_id())
DECLARE_PER_CPU(cpumask_var_t, cpu_sibling_mask);
DECLARE_PER_CPU(cpumask_var_t, cpu_core_mask);
DECLARE_PER_CPU(unsigned long, tasklet_work_to_do);

/* ---- bit operations (type-generic: credit1's flags are an unsigned int) ---- */
#define set_bit(n, p) ((void)(*(p) |= (__typeof__(*(p)))1 << (n)))
#define clear_bit(n, p) ((void)(*(p) &= ~((__typeof__(*(p)))1 << (n))))
#define __set_bit set_bit
#define __clear_bit clear_bit
#define test_bit(n, p) ((bool)((*(p) >> (n)) & 1))
#define test_and_set_bit(n, p) ({ bool _o = test_bit(n, p); set_bit(n, p); _o; })
#define test_and_clear_bit(n, p) ({ bool _o = test_bit(n, p); clear_bit(n, p); _o; })
#define __test_and_set_bit test_and_set_bit
#define __test_and_clear_bit test_and_clear_bit
#define ffs(x) __builtin_ffs(x)
#define fls(x) ((x) ? 32 - __builtin_clz(x) : 0)
#define flsl(x) ((x) ? 64 - __builtin_clzl(x) : 0)

/* ---- atomics (one thread) ---- */
typedef struct { int counter; } atomic_t;
#define ATOMIC_INIT(i) { (i) }
#define atomic_read(v) ((v)->counter)
#define atomic_set(v, i) ((v)->counter = (i))
#define atomic_inc(v) ((void)((v)->counter++))
#define atomic_dec(v) ((void)((v)->counter--))
#define atomic_add(i, v) ((void)((v)->counter += (i)))
#define atomic_sub(i, v) ((void)((v)->counter -= (i)))
#define atomic_dec_and_test(v) (--(v)->counter == 0)
#define atomic_inc_return(v) (++(v)->counter)
#define atomic_dec_return(v) (--(v)->counter)
#define cmpxchg(p, o, n) __sync_val_compare_and_swap((p), (o), (n))
#define xchg(p, n) __atomic_exchange_n((p), (n), __ATOMIC_SEQ_CST)

/* ---- locks: checked flags ---- */
typedef struct { int held; } spinlock_t;
typedef struct { int readers; int writer; } rwlock_t;
/* Whether "interrupts" are off on this thread: Xen asserts on it. */
extern __thread bool oc_irq_off;
#define local_irq_is_enabled() (!oc_irq_off)
#define local_irq_disable() (oc_irq_off = true)
#define local_irq_enable() (oc_irq_off = false)
#define local_irq_save(f) ((f) = oc_irq_off, oc_irq_off = true)
#define local_irq_restore(f) (oc_irq_off = (f))
#define SPIN_LOCK_UNLOCKED { 0 }
#define DEFINE_SPINLOCK(l) spinlock_t l = SPIN_LOCK_UNLOCKED
#define spin_lock_init(l) ((l)->held = 0)
static inline void _spin_lock(spinlock_t *l) { ASSERT(!l->held); l->held = 1; }
static inline void spin_unlock(spinlock_t *l) { ASSERT(l->held); l->held = 0; }
static inline void _spin_lock_irq(spinlock_t *l)
{ ASSERT(local_irq_is_enabled()); local_irq_disable(); _spin_lock(l); }
static inline void spin_unlock_irq(spinlock_t *l) { spin_unlock(l); local_irq_enable(); }
static inline unsigned long _spin_lock_irqsave(spinlock_t *l)
{ unsigned long f; local_irq_save(f); _spin_lock(l); return f; }
static inline void spin_unlock_irqrestore(spinlock_t *l, unsigned long f)
{ spin_unlock(l); local_irq_restore(f); }
#define spin_lock(l) _spin_lock(l)
#define spin_lock_irq(l) _spin_lock_irq(l)
#define spin_lock_irqsave(l, f) ((f) = _spin_lock_irqsave(l))
static inline bool spin_trylock(spinlock_t *l) { if (l->held) return false; l->held = 1; return true; }
#define spin_is_locked(l) ((l)->held != 0)
#define rwlock_init(l) ((l)->readers = (l)->writer = 0)
#define DEFINE_RWLOCK(l) rwlock_t l = { 0, 0 }
static inline void read_lock(rwlock_t *l) { ASSERT(!l->writer); l->readers++; }
static inline void read_unlock(rwlock_t *l) { ASSERT(l->readers > 0); l->readers--; }
static inline bool read_trylock(rwlock_t *l) { if (l->writer) return false; l->readers++; return true; }
static inline void write_lock(rwlock_t *l) { ASSERT(!l->writer && !l->readers); l->writer = 1; }
static inline void write_unlock(rwlock_t *l) { ASSERT(l->writer); l->writer = 0; }
#define read_lock_irqsave(l, f) (local_irq_save(f), read_lock(l))
#define read_unlock_irqrestore(l, f) (read_unlock(l), local_irq_restore(f))
#define write_lock_irqsave(l, f) (local_irq_save(f), write_lock(l))
#define write_unlock_irqrestore(l, f) (write_unlock(l), local_irq_restore(f))
#define write_lock_irq(l) (ASSERT(local_irq_is_enabled()), local_irq_disable(), write_lock(l))
#define write_unlock_irq(l) (write_unlock(l), local_irq_enable())
#define rw_is_locked(l) ((l)->readers || (l)->writer)
#define rw_is_write_locked(l) ((l)->writer)

/* RCU: nothing runs concurrently. */
typedef struct { int unused; } rcu_read_lock_t;
#define DEFINE_RCU_READ_LOCK(x) rcu_read_lock_t x
#define rcu_read_lock(x) ((void)(x))
#define rcu_read_unlock(x) ((void)(x))
#define rcu_dereference(p) (p)
#define rcu_assign_pointer(p, v) ((p) = (v))
struct rcu_head { void *unused; };
#define call_rcu(h, f) (f)(h)
#define synchronize_rcu() do {} while (0)

/* ---- memory ---- */
#define xmalloc(t) ((t *)malloc(sizeof(t)))
#define xzalloc(t) ((t *)calloc(1, sizeof(t)))
#define xmalloc_array(t, n) ((t *)calloc((n), sizeof(t)))
#define xzalloc_array(t, n) ((t *)calloc((n), sizeof(t)))
#define xmalloc_bytes(n) malloc(n)
#define xzalloc_bytes(n) calloc(1, (n))
#define xfree(p) free(p)
#define XFREE(p) do { free(p); (p) = NULL; } while (0)

/* ---- timers: the core's timer list, see core.c ---- */
struct timer {
    s_time_t expires;
    void (*function)(void *);
    void *data;
    unsigned int cpu;
    uint8_t status;
    /* The core's per-pCPU list of timers. */
    struct timer *oc_next;
    /* When it was last set, in order: of timers due at one instant the
     * earlier set runs first, as Xen's timer heap pops equal deadlines. */
    uint64_t oc_seq;
};
#define TIMER_STATUS_invalid 0
#define TIMER_STATUS_inactive 1
#define TIMER_STATUS_killed 2
#define TIMER_STATUS_in_heap 3
void init_timer(struct timer *t, void (*fn)(void *), void *data, unsigned int cpu);
void set_timer(struct timer *t, s_time_t expires);
void stop_timer(struct timer *t);
void migrate_timer(struct timer *t, unsigned int cpu);
void kill_timer(struct timer *t);
static inline bool timer_is_active(const struct timer *t) { return t->status == TIMER_STATUS_in_heap; }
static inline bool timer_expires_before(struct timer *t, s_time_t e) { return timer_is_active(t) && t->expires <= e; }

/* ---- softirqs ---- */
enum { TIMER_SOFTIRQ, SCHEDULE_SOFTIRQ, SCHED_SLAVE_SOFTIRQ, NR_SOFTIRQS };
void cpu_raise_softirq(unsigned int cpu, unsigned int nr);
void cpumask_raise_softirq(const cpumask_t *m, unsigned int nr);
#define raise_softirq(nr) cpu_raise_softirq(smp_processor_id(), (nr))

/* ---- traces: counted, not recorded ---- */
#define tb_init_done 0
#define TRACE_0D(e) do {} while (0)
#define TRACE_1D(e, a) do {} while (0)
#define TRACE_2D(e, a, b) do {} while (0)
#define TRACE_3D(e, a, b, c) do {} while (0)
#define TRACE_4D(e, a, b, c, d) do {} while (0)
#define TRACE_5D(e, a, b, c, d, f) do {} while (0)
#define TRACE_6D(e, a, b, c, d, f, g) do {} while (0)
#define __trace_var(e, c, s, d) do { (void)(d); } while (0)
#define trace_var(e, c, s, d) __trace_var(e, c, s, d)

/* ---- keyhandler dumps ---- */
#define register_keyhandler(k, f, d, b) do {} while (0)

#include <public/xen.h>
#include <public/domctl.h>
#include <public/sysctl.h>
#include <public/trace.h>
#include <xen/list.h>

/* ---- domains, vCPUs, scheduling units (the fields the schedulers read) ---- */
enum { RUNSTATE_running, RUNSTATE_runnable, RUNSTATE_blocked, RUNSTATE_offline };
#define _VPF_blocked 0
#define VPF_blocked (1UL << _VPF_blocked)
#define _VPF_down 1
#define VPF_down (1UL << _VPF_down)
#define _VPF_migrating 3
#define VPF_migrating (1UL << _VPF_migrating)
#define _VPF_parked 8
#define VPF_parked (1UL << _VPF_parked)

struct sched_unit;
struct cpupool;

struct vcpu {
    int vcpu_id;
    unsigned int processor;
    struct domain *domain;
    struct vcpu *next_in_list;
    struct sched_unit *sched_unit;
    unsigned long pause_flags;
    atomic_t pause_count;
    bool is_running;
    bool force_context_switch;
    struct { int state; } runstate;
    int new_state;
    /* The host's token for this vCPU (`VcpuToken`). */
    uintptr_t oc_token;
    /* The host was told of its _VPF_migrating. */
    bool oc_migrate_told;
    /* Paused by the scheduler (parked): the host's sleep that follows is
     * the echo of a sleep already done, not the guest blocking. */
    bool oc_pause_echo;
    /* Just migrated: the wake that follows runs on the pCPU it left, as
     * Xen's sched_unit_migrate_finish() does (NR_CPUS: none). */
    unsigned int oc_wake_cpu;
};

struct domain {
    domid_t domain_id;
    unsigned int max_vcpus;
    struct vcpu **vcpu;
    struct sched_unit *sched_unit_list;
    void *sched_priv;
    struct cpupool *cpupool;
    atomic_t pause_count;
    nodemask_t node_affinity;
    bool is_dying;
    /* The core's list of live domains. */
    struct domain *oc_next;
};

struct sched_unit {
    struct domain *domain;
    struct vcpu *vcpu_list;
    void *priv;
    struct sched_unit *next_in_list;
    struct sched_resource *res;
    unsigned int unit_id;
    bool is_running;
    bool soft_aff_effective;
    bool migrated;
    uint64_t state_entry_time;
    unsigned int runstate_cnt[4];
    cpumask_var_t cpu_hard_affinity;
    cpumask_var_t cpu_hard_affinity_saved;
    cpumask_var_t cpu_soft_affinity;
    struct sched_unit *next_task;
    s_time_t next_time;
    unsigned int rendezvous_in_cnt;
    atomic_t rendezvous_out_cnt;
};

#define for_each_sched_unit(d, u) \
    for ((u) = (d)->sched_unit_list; (u) != NULL; (u) = (u)->next_in_list)
#define for_each_sched_unit_vcpu(u, v) \
    for ((v) = (u)->vcpu_list; \
         (v) != NULL && (!(u)->next_in_list || (v)->vcpu_id < (u)->next_in_list->unit_id); \
         (v) = (v)->next_in_list)

extern __thread struct vcpu *oc_current[NR_CPUS];
#define current (oc_current[smp_processor_id()])
#define get_cpu_current(c) (oc_current[(c)])
static inline bool is_idle_domain(const struct domain *d) { return d->domain_id == DOMID_IDLE; }
static inline bool is_idle_vcpu(const struct vcpu *v) { return is_idle_domain(v->domain); }
static inline bool is_vcpu_online(const struct vcpu *v) { return !(v->pause_flags & VPF_down); }
static inline bool vcpu_runnable(const struct vcpu *v)
{
    return !(v->pause_flags | atomic_read(&v->pause_count) | atomic_read(&v->domain->pause_count));
}
static inline struct sched_unit *sched_unit2vcpu_cpu_unit(struct sched_unit *u) { return u; }
#define sched_unit2vcpu_cpu(u, c) ((u)->vcpu_list)
#define unit_scheduler(u) (oc_scheduler())
struct scheduler *oc_scheduler(void);
void vcpu_pause_nosync(struct vcpu *v);
void vcpu_unpause(struct vcpu *v);
#define is_hardware_domain(d) 0
#define has_vlapic(d) 0
#define hardware_domain NULL
extern bool sched_smt_power_savings;

/* ---- cpupools ---- */
#define cpupool_online_cpumask(c) ((c)->cpu_valid)
int schedule_cpu_switch(unsigned int cpu, struct cpupool *c);
#define sched_ratelimit_us oc_sched_ratelimit_us
extern int sched_ratelimit_us;

/* ---- guest copies (RTDS's per-vCPU parameters): plain copies ---- */
#define guest_handle_is_null(h) ((h).p == NULL)
#define copy_from_guest_offset(d, h, o, n) (memcpy((d), (h).p + (o), (n) * sizeof(*(d))), 0)
#define __copy_from_guest_offset copy_from_guest_offset
#define copy_to_guest_offset(h, o, s, n) (memcpy((h).p + (o), (s), (n) * sizeof(*(s))), 0)
#define __copy_to_guest_offset copy_to_guest_offset
#define hypercall_preempt_check() 0

/* ---- CPU hotplug notifiers (credit2, RTDS) ---- */
struct notifier_block { int (*notifier_call)(struct notifier_block *, unsigned long, void *); };
#define register_cpu_notifier(n) do {} while (0)
#define NOTIFY_DONE 0

static inline s_time_t oc_unused_time(void) { return 0; }

#endif /* ORACLE_H */
