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
