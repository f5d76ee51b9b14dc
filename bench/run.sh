#!/usr/bin/env bash
# Run one benchmark from a fresh clone: sets up what it needs (the pinned tools, the
# Docker engine, the test image), then runs bench/<name>.py with the kit's venv.
#   bash bench/run.sh zero_downtime|deploy_time|serving|hardening|tls|fleet [args]
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
cd "$KIT_ROOT"

name="${1:?usage: bench/run.sh zero_downtime|deploy_time|serving|hardening|tls|fleet [args]}"
shift
case "$name" in
  zero_downtime | deploy_time | serving | hardening | tls | fleet) ;;
  *)
    echo "bench/run.sh: unknown benchmark '$name' (zero_downtime, deploy_time, serving, hardening, tls, fleet)" >&2
    exit 2
    ;;
esac

# The benches that compare the releases need each one's image.
case "$name" in
  hardening | tls)
    export KIT_BENCH_DISTROS="${KIT_BENCH_DISTROS:-$KIT_ALL_DISTROS}"
    export KIT_IMAGE_DISTROS="${KIT_IMAGE_DISTROS:-} $KIT_BENCH_DISTROS"
    ;;
esac
bash scripts/bootstrap.sh
exec "$KIT_VENV/bin/python" "bench/$name.py" "$@"
