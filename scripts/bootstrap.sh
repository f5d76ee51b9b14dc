#!/usr/bin/env bash
# Everything the tests and the local VPS need on a fresh machine:
# the venv with the pinned tools, the collections, a Docker engine, the test image.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$KIT_ROOT"

stamp="$KIT_VENV/.tools-$(sha256sum requirements-tools.txt | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  kit_log "Installing the pinned tools into $KIT_VENV"
  [ -x "$KIT_VENV/bin/python" ] || python3 -m venv "$KIT_VENV"
  mkdir -p "$KIT_ROOT/.cache"
  log="$KIT_ROOT/.cache/tools-install.log"
  if ! "$KIT_VENV/bin/pip" install -q -r requirements-tools.txt >"$log" 2>&1; then
    tail -30 "$log" >&2
    echo "bootstrap: installing the pinned tools failed (log: $log)" >&2
    exit 1
  fi
  rm -f "$KIT_VENV"/.tools-*
  touch "$stamp"
fi
export PATH="$KIT_VENV/bin:$PATH"

kit_log "Checking collections against requirements.yml"
ansible-galaxy collection install -r requirements.yml 2>&1 | grep -v '^Starting galaxy' | sed 's/^/  /'

kit_log "Checking the Docker engine"
bash scripts/docker-engine.sh

kit_log "Checking the test image $KIT_IMAGE"
bash scripts/build-image.sh "$KIT_SUITE"
mkdir -p "$KIT_CACHE_DIR/apt/partial" "$KIT_CACHE_DIR/pip"
