#!/usr/bin/env bash
# Snakemake runs this inside a freshly built conda env (envs/<name>.yaml), from the
# workflow's working directory, as envs/<name>.post-deploy.sh (each env's post-deploy
# script is a symlink to this file). It installs this checkout's irnoise package,
# editable, so the env's `irnoise` runs the code the workflow was started with. Its
# dependencies come from the env file (--no-deps), so nothing else is fetched here.
set -euo pipefail
root="${IRNOISE_ROOT:-$PWD}"
if ! grep -qs '^name = "irnoise"' "$root/pyproject.toml"; then
    echo "irnoise: $root is not the irnoise repository; run Snakemake from its root" \
        "or set IRNOISE_ROOT to it" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --editable "$root"
