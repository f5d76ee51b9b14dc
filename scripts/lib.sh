# Shared settings for the kit's scripts. Source it; do not run it.
# shellcheck shell=bash

KIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KIT_ROOT
# Caches shared by every test container and every clone on this machine.
export KIT_CACHE_DIR="${KIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fastapi-kit}"
# The Debian releases the kit supports, newest first.
KIT_ALL_DISTROS="debian13 debian12"
# kit_suite DISTRO: the Debian suite of a release name (debian13 -> trixie).
kit_suite() {
  case "$1" in
    debian13) echo trixie ;;
    debian12) echo bookworm ;;
    *)
      echo "KIT_DISTRO must be one of: $KIT_ALL_DISTROS; got '$1'" >&2
      return 2
      ;;
  esac
}
# kit_image DISTRO: the systemd test image of a release; KIT_IMAGE_DEBIAN13 and
# KIT_IMAGE_DEBIAN12 name other images (for users with a registry).
kit_image() {
  local override="KIT_IMAGE_${1^^}" suite
  suite="$(kit_suite "$1")" || return 2
  echo "${!override:-fastapi-kit/debian-${suite}:systemd}"
}
# The release of `make local`, the pytest tests and a single scenario: Debian 13 unless told.
export KIT_DISTRO="${KIT_DISTRO:-debian13}"
KIT_SUITE="$(kit_suite "$KIT_DISTRO")" || return 2
export KIT_SUITE
KIT_IMAGE="${KIT_IMAGE:-$(kit_image "$KIT_DISTRO")}"
export KIT_IMAGE
export KIT_VENV="${KIT_VENV:-$KIT_ROOT/.venv}"

kit_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
