#!/usr/bin/env bash
# The whole test suite: set-up, lint, every Molecule scenario, the pytest tests.
# Ends with one summary line and exits non-zero when anything failed.
#   KIT_DISTRO=debian13   test on Debian 13 instead of 12
#   KIT_SCENARIOS="a b"   run only these Molecule scenarios
#   KIT_SKIP_LINT=1       skip the linters
#   KIT_JOBS=N            Molecule scenarios run at once (default 2)
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$KIT_ROOT"

bash scripts/bootstrap.sh || {
  echo "test: set-up failed"
  echo "test: 0 passed, 1 failed"
  exit 1
}
export PATH="$KIT_VENV/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

passed=() failed=()
logdir="$KIT_ROOT/.cache/test-logs"
mkdir -p "$logdir"
step() {
  # step NAME COMMAND...: run a step, keep its log, record the result.
  local name="$1" start=$SECONDS
  shift
  kit_log "$name"
  if "$@" 2>&1 | tee "$logdir/$name.log"; then
    passed+=("$name")
    kit_log "$name passed in $((SECONDS - start)) s"
  else
    failed+=("$name")
    kit_log "$name FAILED in $((SECONDS - start)) s (log: $logdir/$name.log)"
  fi
}

if [ "${KIT_SKIP_LINT:-0}" != 1 ]; then
  step yamllint yamllint --strict .
  step ansible-lint ansible-lint --profile production --strict
fi

# Molecule scenarios, KIT_JOBS at a time (default 2): most of their time is apt,
# pip and systemd waiting, so two share two cores well. The slow multi-host
# `site` scenario starts first so that the others fill the other lane.
scenarios="${KIT_SCENARIOS:-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)}"
ordered="$(printf '%s\n' $scenarios | grep -x site || true) $(printf '%s\n' $scenarios | grep -vx site || true)"
jobs_max="${KIT_JOBS:-2}"
declare -A pid_of=() start_of=()
run_scenario() {
  molecule test --scenario-name "$1" >"$logdir/molecule-$1.log" 2>&1
}
reap() {
  # Wait for one scenario to end and record it.
  local done_pid s rc
  wait -n -p done_pid
  rc=$?
  for s in "${!pid_of[@]}"; do
    if [ "${pid_of[$s]}" = "$done_pid" ]; then
      if [ "$rc" = 0 ]; then
        passed+=("molecule-$s")
        kit_log "molecule-$s passed in $((SECONDS - start_of[$s])) s"
      else
        failed+=("molecule-$s")
        tail -60 "$logdir/molecule-$s.log"
        kit_log "molecule-$s FAILED in $((SECONDS - start_of[$s])) s (log: $logdir/molecule-$s.log)"
      fi
      unset "pid_of[$s]"
    fi
  done
}
for s in $ordered; do
  while [ "${#pid_of[@]}" -ge "$jobs_max" ]; do reap; done
  kit_log "molecule-$s started (log: $logdir/molecule-$s.log)"
  run_scenario "$s" &
  pid_of[$s]=$!
  start_of[$s]=$SECONDS
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap; done

if [ -z "${KIT_SCENARIOS:-}" ]; then
  step pytest pytest -p no:cacheprovider tests
fi

total_passed=${#passed[@]} total_failed=${#failed[@]}
if [ $((total_passed + total_failed)) = 0 ]; then
  failed+=("nothing-ran")
  total_failed=1
fi
echo
echo "passed: ${passed[*]:-none}"
echo "failed: ${failed[*]:-none}"
echo "test: $total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
