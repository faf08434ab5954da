#!/usr/bin/env bash
# The whole test suite, as CI runs it: linters, then pytest (unit tests, the smoke
# preset through real Snakemake, and the Slurm test against a single-node Slurm that
# this script starts, when it runs as root on a Debian-like machine).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint"
ruff check .
ruff format --check .
snakefmt --check Snakefile workflow/rules
snakemake --lint

slurm_started=""
stop_slurm() { [ -n "$slurm_started" ] && bash tests/slurm/stop_slurm.sh || true; }
trap stop_slurm EXIT
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${IRNOISE_SLURM:-1}" != 0 ]; then
    echo "== starting a single-node Slurm"
    bash tests/slurm/start_slurm.sh && slurm_started=1 && export IRNOISE_SLURM=1
fi

echo "== pytest"
python -m pytest -n 2 --dist loadgroup --durations=15 "$@"
