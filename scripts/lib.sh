# Shared settings for the kit's scripts. Source it; do not run it.
# shellcheck shell=bash

KIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KIT_ROOT
# Caches shared by every test container and every clone on this machine.
export KIT_CACHE_DIR="${KIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fastapi-kit}"
# Test distribution: debian12 (default) or debian13.
export KIT_DISTRO="${KIT_DISTRO:-debian12}"
case "$KIT_DISTRO" in
  debian12) _kit_suite=bookworm ;;
  debian13) _kit_suite=trixie ;;
  *)
    echo "KIT_DISTRO must be debian12 or debian13, got '$KIT_DISTRO'" >&2
    return 2
    ;;
esac
export KIT_SUITE="$_kit_suite"
# Users with a registry can point this at their own systemd image.
export KIT_IMAGE="${KIT_IMAGE:-fastapi-kit/debian-${KIT_SUITE}:systemd}"
export KIT_VENV="${KIT_VENV:-$KIT_ROOT/.venv}"

kit_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
