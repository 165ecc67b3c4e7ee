#!/bin/sh
# dom0's toolstack check for `cargo xtask xen-smoke`: vsched sets dom0's
# parameters for the booted scheduler through /dev/xen/privcmd, reads them
# back, and a hostile value must be refused by Xen (EINVAL: vsched exits 2
# with "Xen refused") and change nothing. One `SMOKE: toolstack` line per
# check, then a summary line the xtask requires to say fail=0.
policy=$(sed -n 's/.*smoke_policy=\([a-z]*\).*/\1/p' /proc/cmdline)
ok=0
fail=0

# check NAME WANT_EXIT PATTERN vsched-args...: the command's exit code must
# be WANT_EXIT and its output (stdout and stderr) must match PATTERN (ERE).
check() {
    name=$1 want=$2 pat=$3
    shift 3
    echo "SMOKE: toolstack > $name"
    out=$(/bin/vsched "$@" 2>&1)
    rc=$?
    if [ "$rc" = "$want" ] && printf '%s\n' "$out" | grep -Eq -- "$pat"; then
        ok=$((ok + 1))
        echo "SMOKE: toolstack ok $name: vsched $*"
    else
        fail=$((fail + 1))
        echo "SMOKE: toolstack FAIL $name (exit $rc, want $want, /$pat/): vsched $*"
    fi
    printf '%s\n' "$out" | sed 's/^/SMOKE: |   /'
}

X="--host xen"

# A second cpupool run by scheduler $1, on pCPU 1: a second instance of the
# Rust schedulers beside Pool-0's (switch_sched, init/deinit, per-instance
# parameters), then pCPU 1 back and the pool destroyed.
pools() {
    other=$1
    check pool-create 0 '^pool1$' cpupool-create $X --sched "$other"
    check pool-cpu-out 0 '' cpupool-cpu-remove $X Pool-0 1
    check pool-cpu-in 0 '' cpupool-cpu-add $X pool1 1
    check pool-list 0 "pool1 +1 +$other +0 +1" cpupool-list $X
    check pool-set 0 '' sched-credit $X -p pool1 -s -t 20 -r 2000
    check pool-read 0 'Cpupool pool1: tslice=20ms ratelimit=2000us' sched-credit $X -p pool1 -s
    check pool-hostile 2 'Xen refused' sched-credit $X -p pool1 -s -t 0
    check pool-cpu-remove 0 '' cpupool-cpu-remove $X pool1 1
    check pool-cpu-add 0 '' cpupool-cpu-add $X Pool-0 1
    check pool-destroy 0 '' cpupool-destroy $X pool1
    check pool-gone 0 'Pool-0 +2 ' cpupool-list $X
}

case "$policy" in
rcredit)
    check set-weight 0 '' sched-credit $X -d 0 -w 512 -c 150
    check read-back 0 'Domain-0 +0 +512 +150' sched-credit $X -d 0
    check hostile-cap 2 'Xen refused' sched-credit $X -d 0 -c 1000
    check unchanged 0 'Domain-0 +0 +512 +150' sched-credit $X -d 0
    check set-pool 0 '' sched-credit $X -s -t 10 -r 500
    check read-pool 0 'tslice=10ms ratelimit=500us' sched-credit $X -s
    check hostile-pool 2 'Xen refused' sched-credit $X -s -r 50
    check pool-unchanged 0 'tslice=10ms ratelimit=500us' sched-credit $X -s
    check list 0 'Domain-0 +0 +512 +150' sched-credit $X
    pools vslicer
    ;;
vslicer)
    check auto-on 0 '' sched-vslicer $X --auto-lsvm on
    check auto-read 0 'auto_lsvm=on' sched-vslicer $X
    check auto-shown 0 'Domain-0 +0 .*auto: [0-9]+ events/s, burst ' sched-vslicer $X
    check auto-off 0 '' sched-vslicer $X --auto-lsvm off
    check auto-read-off 0 'auto_lsvm=off' sched-vslicer $X
    check set-microslice 0 '' sched-vslicer $X -d 0 -m 5ms
    check read-back 0 'Domain-0 +0 +5ms +LSVM' sched-vslicer $X -d 0
    check hostile-microslice 2 'Xen refused' sched-vslicer $X -d 0 -m 500us
    check unchanged 0 'Domain-0 +0 +5ms +LSVM' sched-vslicer $X -d 0
    check set-weight 0 '' sched-credit $X -d 0 -w 300
    check read-weight 0 'Domain-0 +0 +300 +0' sched-credit $X -d 0
    check wrong-scheduler 2 'needs Xen booted with sched=edfcredit' sched-edf $X
    pools edfcredit
    ;;
edfcredit)
    check driver 0 'Domain-0 +0 +- +- +- +yes' sched-edf $X -d 0
    check set-reserve 0 '' sched-edf $X -d 0 -r 2ms
    check read-back 0 'Domain-0 +0 +- +- +2ms +yes' sched-edf $X -d 0
    check hostile-reserve 2 'Xen refused' sched-edf $X -d 0 -r 50ms
    check hostile-driver-rt 2 'Xen refused' sched-edf $X -d 0 -t periodic -D 5ms
    check unchanged 0 'Domain-0 +0 +- +- +2ms +yes' sched-edf $X -d 0
    check set-poll 0 '' sched-edf $X -s -P 250us
    check read-poll 0 'poll=250us edf-slice=500us' sched-edf $X -s
    check hostile-slice 2 'Xen refused' sched-edf $X -s -e 40ms
    pools rcredit
    ;;
*)
    fail=$((fail + 1))
    echo "SMOKE: toolstack FAIL no smoke_policy on the kernel command line"
    ;;
esac
# The run-queue dump through the toolstack too (xl debug-keys r).
check debug-keys 0 '' debug-keys r $X
echo "SMOKE: toolstack done ok=$ok fail=$fail"
