#!/usr/bin/env bash
# Stop the test cluster started by start_slurm.sh: cancel its jobs, then end exactly the
# daemons whose PIDs it recorded, and remove the config and fake GPUs it wrote. Logs stay
# in $RUN for post-mortems.
set -uo pipefail

RUN="${IRNOISE_SLURM_RUN:-/tmp/irnoise-slurm}"
MARKER="irnoise-test-cluster"

say() { echo "stop_slurm: $*" >&2; }

if [ ! -f "$RUN/pids" ]; then
    say "nothing to stop (no $RUN/pids)"
    exit 0
fi

# Jobs first: with proctrack/linuxproc their processes would outlive slurmd.
if scontrol ping >/dev/null 2>&1; then
    squeue -h -o %i | xargs -r scancel
    sleep 1
fi

# Slurm daemons first, munged last (they authenticate through it while shutting down).
for name in slurmd slurmctld munged; do
    pid="$(awk -v n="$name" '$1 == n {print $2}' "$RUN/pids")"
    [ -n "$pid" ] || continue
    # Only the process we started: the PID must still belong to that program.
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]; then
        say "$name ($pid) is not running"
        continue
    fi
    kill -TERM "$pid"
    for _ in $(seq 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name ($pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid"
    fi
    say "stopped $name ($pid)"
done
rm -f "$RUN/pids"

for name in slurm.conf gres.conf; do
    if grep -qs "$MARKER" "/etc/slurm/$name"; then rm -f "/etc/slurm/$name"; fi
done
rm -f /dev/fakegpu0 /dev/fakegpu1
