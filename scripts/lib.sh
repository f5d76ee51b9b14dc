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

# Wait until systemd in container $1 has booted (running, or degraded as containers
# often are), at most $2 seconds (default 60). Until its bus is up, systemctl can only
# say "Failed to connect to bus", so the poll stays quiet and fails with one clear line.
kit_wait_for_systemd() {
  local name="$1" limit="${2:-60}" state=""
  local deadline=$((SECONDS + limit))
  while [ "$SECONDS" -lt "$deadline" ]; do
    state="$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in
      running | degraded) return 0 ;;
    esac
    sleep 1
  done
  echo "systemd in container $name did not finish booting within ${limit}s" \
    "(last state: ${state:-its bus never answered}); see: docker logs $name" >&2
  return 1
}

# Print an error and stop.
kit_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
