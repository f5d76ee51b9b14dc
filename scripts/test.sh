#!/usr/bin/env bash
# The whole test suite: set-up, lint, the Molecule scenarios (the role scenarios on each
# release of KIT_DISTROS), the pytest tests. Ends with one summary line and exits non-zero
# when anything failed.
#   KIT_DISTROS="debian13"           releases the role scenarios run on (default: Debian 13;
#                                    "debian13 debian12" for both)
#   KIT_SITE_DISTROS="debian13"      releases the slow multi-host scenarios (site, data)
#                                    run on (default: Debian 13; their fleets are mixed:
#                                    some hosts are on Debian 12 whatever the release)
#   KIT_DISTRO=debian13              release of the pytest tests (and of `make local`)
#   KIT_SCENARIOS="a b"              run only these Molecule scenarios
#   KIT_SKIP_LINT=1                  skip the linters
#   KIT_JOBS=N                       jobs run at once: Molecule scenarios and the pytest
#                                    tests (default 3)
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$KIT_ROOT"

distros="${KIT_DISTROS:-debian13}"
site_distros="${KIT_SITE_DISTROS:-debian13}"
for d in $distros $site_distros; do kit_suite "$d" >/dev/null || exit 2; done
scenarios="${KIT_SCENARIOS:-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)}"
# One line, names between spaces: the tests below match " name " in it.
scenarios="${scenarios//$'\n'/ }"
# The multi-host scenarios, slowest first: they run on KIT_SITE_DISTROS only, and their
# fleets mix releases (some platforms name Debian 12's image), so they need every image.
multi_host="site data"
export KIT_IMAGE_DISTROS="$distros $site_distros"
for m in $multi_host; do
  [[ " $scenarios " == *" $m "* ]] && KIT_IMAGE_DISTROS="$KIT_ALL_DISTROS"
done

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

# Molecule scenarios, each on its releases, and the pytest tests, KIT_JOBS at a
# time (default 3): most of their time is apt, pip and systemd waiting, so three
# share two cores (README, Tests: what a fresh-clone run took). A scenario's
# container names are fixed, so its two releases never run at once. The slow
# multi-host scenarios start first, then pytest, so that the others fill the
# other lanes and no lane is left with a long job at the end.
queue=()
for m in $multi_host; do
  for s in $scenarios; do
    [ "$s" = "$m" ] && for d in $site_distros; do queue+=("$s@$d"); done
  done
done
# pytest runs with every scenario, not with a subset (KIT_SCENARIOS).
[ -z "${KIT_SCENARIOS:-}" ] && queue+=("pytest")
# The role scenarios, slowest first (as the fresh-clone runs measured them), each on every release in turn:
# a scenario's second release waits for its first, and the other lanes take the next
# scenario meanwhile, so that the last jobs to start are the short ones.
slowest_first="fastapi_app bootstrap certbot gunicorn nginx base monitoring node_exporter python"
ordered=""
for s in $slowest_first $scenarios; do
  [[ " $scenarios " == *" $s "* && " $ordered " != *" $s "* && " $multi_host " != *" $s "* ]] && ordered+=" $s"
done
for s in $ordered; do
  for d in $distros; do queue+=("$s@$d"); done
done
jobs_max="${KIT_JOBS:-3}"
declare -A pid_of=() start_of=()
run_job() {
  # run_job JOB: a scenario on a release (SCENARIO@DISTRO), or `pytest`.
  if [ "$1" = pytest ]; then
    # Two workers: most of a case's time is ansible-playbook starting and waiting on a container.
    pytest -p no:cacheprovider -n 2 --durations=40 tests >"$logdir/pytest.log" 2>&1
  else
    KIT_DISTRO="${1#*@}" KIT_IMAGE="$(kit_image "${1#*@}")" \
      molecule test --scenario-name "${1%@*}" >"$logdir/molecule-$1.log" 2>&1
  fi
}
log_of() { if [ "$1" = pytest ]; then echo pytest; else echo "molecule-$1"; fi; }
reap() {
  # Wait for one scenario to end and record it.
  local done_pid job rc name
  wait -n -p done_pid
  rc=$?
  for job in "${!pid_of[@]}"; do
    if [ "${pid_of[$job]}" = "$done_pid" ]; then
      name="$(log_of "$job")"
      if [ "$rc" = 0 ]; then
        passed+=("$name")
        kit_log "$name passed in $((SECONDS - start_of[$job])) s (controller processor time, user and system: $(tail -1 "$logdir/$name.times" 2>/dev/null))"
      else
        failed+=("$name")
        tail -60 "$logdir/$name.log"
        kit_log "$name FAILED in $((SECONDS - start_of[$job])) s (log: $logdir/$name.log)"
      fi
      unset "pid_of[$job]"
    fi
  done
}
running() {
  # running SCENARIO: true when one of its jobs runs now.
  local job
  for job in "${!pid_of[@]}"; do [ "${job%@*}" = "$1" ] && return 0; done
  return 1
}
while [ "${#queue[@]}" -gt 0 ]; do
  while [ "${#pid_of[@]}" -ge "$jobs_max" ]; do reap; done
  # The first queued job whose scenario is not running now.
  next=""
  for i in "${!queue[@]}"; do
    running "${queue[$i]%@*}" || {
      next="${queue[$i]}"
      unset "queue[$i]"
      queue=("${queue[@]}")
      break
    }
  done
  if [ -z "$next" ]; then
    reap
    continue
  fi
  kit_log "$(log_of "$next") started (log: $logdir/$(log_of "$next").log)"
  # The job, then the processor time it and its children took on the controller (bash's
  # `times`, run in this shell: in a pipe it would count nothing; what runs in the
  # containers is not counted), kept next to its log.
  {
    run_job "$next"
    rc=$?
    times >"$logdir/$(log_of "$next").times"
    exit "$rc"
  } &
  pid_of[$next]=$!
  start_of[$next]=$SECONDS
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap; done

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
