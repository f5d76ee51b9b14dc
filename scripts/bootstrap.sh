#!/usr/bin/env bash
# Everything the tests and the local VPS need on a fresh machine:
# the venv with the pinned tools, the collections, a Docker engine, the test image.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$KIT_ROOT"

# ansible-core 2.21 runs on Python 3.12 or newer. KIT_PYTHON names one; otherwise the
# first that answers of python3 (Debian 13: 3.13), python3.13, python3.12, and pyenv's.
kit_python() {
  local c
  for c in ${KIT_PYTHON:-} python3 python3.13 python3.12 \
    $(ls -d "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  echo "bootstrap: the tools need Python 3.12 or newer (ansible-core 2.21); none found." >&2
  echo "bootstrap: on Debian 12, set KIT_PYTHON to a python3.12+ (e.g. one built with pyenv)." >&2
  return 1
}

# The stamp hashes both pin files (requirements-tools.txt includes requirements-deploy.txt):
# a change in either reinstalls.
stamp="$KIT_VENV/.tools-$(cat requirements-tools.txt requirements-deploy.txt | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  kit_log "Installing the pinned tools into $KIT_VENV"
  if ! "$KIT_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    python="$(kit_python)"
    kit_log "Creating $KIT_VENV with $python ($("$python" -V))"
    rm -rf "$KIT_VENV"
    "$python" -m venv "$KIT_VENV"
  fi
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

# The test images: KIT_DISTRO's, and every release in KIT_IMAGE_DISTROS (set by test.sh).
for distro in $(printf '%s\n' "$KIT_DISTRO" ${KIT_IMAGE_DISTROS:-} | sort -u); do
  image="$(kit_image "$distro")"
  [ "$distro" = "$KIT_DISTRO" ] && image="$KIT_IMAGE"
  kit_log "Checking the test image $image"
  KIT_IMAGE="$image" bash scripts/build-image.sh "$(kit_suite "$distro")"
done
mkdir -p "$KIT_CACHE_DIR/apt/partial" "$KIT_CACHE_DIR/pip"
