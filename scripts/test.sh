#!/usr/bin/env bash
# The whole test suite: set-up, lint, every Molecule scenario, the pytest tests.
# Ends with one summary line and exits non-zero when anything failed.
#   KIT_DISTRO=debian13   test on Debian 13 instead of 12
#   KIT_SCENARIOS="a b"   run only these Molecule scenarios
#   KIT_SKIP_LINT=1       skip the linters
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

scenarios="${KIT_SCENARIOS:-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)}"
for s in $scenarios; do
  step "molecule-$s" molecule test --scenario-name "$s"
done

if [ -z "${KIT_SCENARIOS:-}" ]; then
  step pytest pytest -p no:cacheprovider tests
fi

total_passed=${#passed[@]} total_failed=${#failed[@]}
echo
echo "passed: ${passed[*]:-none}"
echo "failed: ${failed[*]:-none}"
echo "test: $total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
