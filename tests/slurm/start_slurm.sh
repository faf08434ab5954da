#!/usr/bin/env bash
# Start a single-node Slurm on this machine for tests/test_slurm.py: Debian's slurm-wlm and
# munge (installed when absent), one node with this machine's CPUs and memory and two
# file-backed fake GPUs, partitions `debug` (default) and `gpu`. Needs root.
#
#   sudo tests/slurm/start_slurm.sh && IRNOISE_SLURM=1 .venv/bin/pytest -m slurm
#   sudo tests/slurm/stop_slurm.sh
#
# The daemons' PIDs go to $RUN/pids; stop_slurm.sh kills exactly those. State, spool and
# logs live under RUN (default /tmp/irnoise-slurm; set IRNOISE_SLURM_RUN to move it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="${IRNOISE_SLURM_RUN:-/tmp/irnoise-slurm}"
MARKER="irnoise-test-cluster"
NODE="$(hostname -s)"

say() { echo "start_slurm: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (slurmd binds the fake GPU devices and runs jobs as any user)"

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

if [ -f "$RUN/pids" ] && alive "$(awk '$1 == "slurmctld" {print $2}' "$RUN/pids")"; then
    say "already running (PIDs in $RUN/pids)"
    exit 0
fi

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends slurm-wlm munge
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating a munge key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    # A munged that already answers (the distribution's service) is used, not restarted.
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "using the munged already running"
        return
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- munged
    wait_for 10 "munged" test -s /run/munge/munged.pid
    echo "munged $(cat /run/munge/munged.pid)" >>"$RUN/pids"
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every half second.
wait_for() {
    local seconds="$1" what="$2"
    shift 2
    for _ in $(seq $((seconds * 2))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    die "$what did not come up within ${seconds}s (logs in $RUN)"
}

write_config() {
    local cpus memory
    cpus="$(nproc)"
    # What slurmd itself detects, so the node is not drained for "Low RealMemory".
    memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
    mkdir -p /etc/slurm
    for name in slurm.conf gres.conf; do
        if [ -f "/etc/slurm/$name" ] && ! grep -q "$MARKER" "/etc/slurm/$name"; then
            die "/etc/slurm/$name exists and was not written by this script; not overwriting it"
        fi
    done
    sed -e "s|@NODE@|$NODE|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEMORY@|$memory|g" \
        -e "s|@RUN@|$RUN|g" "$HERE/slurm.conf.in" >/etc/slurm/slurm.conf
    { echo "# $MARKER"; cat "$HERE/gres.conf.in"; } >/etc/slurm/gres.conf
    # Character devices like /dev/null: Slurm binds them as GPUs 0 and 1.
    for gpu in 0 1; do
        [ -e "/dev/fakegpu$gpu" ] || mknod -m 0666 "/dev/fakegpu$gpu" c 1 3
    done
    say "node $NODE: $cpus CPUs, ${memory} MB, 2 fake GPUs"
}

node_idle() { sinfo -h -n "$NODE" -o %t | grep -qx idle; }

install_packages
mkdir -p "$RUN/state" "$RUN/spool"
: >"$RUN/pids"
start_munge
write_config

# -c: cold start, so jobs of an earlier test cluster are forgotten.
slurmctld -c </dev/null >>"$RUN/slurmctld.out" 2>&1
wait_for 30 "slurmctld" test -s "$RUN/slurmctld.pid"
echo "slurmctld $(cat "$RUN/slurmctld.pid")" >>"$RUN/pids"
slurmd </dev/null >>"$RUN/slurmd.out" 2>&1
wait_for 30 "slurmd" test -s "$RUN/slurmd.pid"
echo "slurmd $(cat "$RUN/slurmd.pid")" >>"$RUN/pids"

wait_for 60 "node $NODE (idle in sinfo)" node_idle
sinfo >&2
say "up; PIDs in $RUN/pids"
