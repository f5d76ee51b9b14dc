#!/usr/bin/env bash
# make local: deploy the bundled example app to a local systemd container that
# stands in for a VPS, over SSH, with the same site.yml a real VPS gets.
#   KIT_LOCAL_NAME   container name (default fastapi-kit-local)
#   KIT_LOCAL_RESET  1 removes the container first, for a deploy to a bare host
#   KIT_DISTRO       debian13 (default) or debian12: the release of the container
#   KIT_LOCAL_VARS   a YAML file of your own variables (e.g. your `apps`), given to
#                    site.yml as extra vars: examples/local-two-apps.yml serves two apps
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$KIT_ROOT"

bash scripts/bootstrap.sh
export PATH="$KIT_VENV/bin:$PATH"

name="${KIT_LOCAL_NAME:-fastapi-kit-local}"
state="$KIT_ROOT/.cache/local"
mkdir -p "$state"
[ -f "$state/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "fastapi-kit local deploy key" -f "$state/id_ed25519"

if [ "${KIT_LOCAL_RESET:-0}" = 1 ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
fi
# Another release asked for (KIT_DISTRO) than the container runs: start from a bare one.
running_image="$(docker inspect -f '{{.Config.Image}}' "$name" 2>/dev/null || true)"
if [ -n "$running_image" ] && [ "$running_image" != "$KIT_IMAGE" ]; then
  kit_log "The local VPS runs $running_image; replacing it with a bare $KIT_IMAGE ($KIT_DISTRO)"
  docker rm -f "$name" >/dev/null
fi

if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  rm -f "$state/known_hosts"
  kit_log "Starting the local VPS $name (SSH 127.0.0.1:2222, HTTP 127.0.0.1:8080, HTTPS 127.0.0.1:8443)"
  docker run -d --name "$name" --hostname local-vps \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
    --stop-signal SIGRTMIN+3 \
    -p 127.0.0.1:2222:22 -p 127.0.0.1:8080:80 -p 127.0.0.1:8443:443 \
    "$KIT_IMAGE" >/dev/null
  kit_wait_for_systemd "$name"
  # What a VPS provider's first boot does: root with your SSH key, nothing else.
  # site.yml reaches it as root, makes the deploy user and hardens sshd.
  docker exec -i "$name" sh -s -- "$(cat "$state/id_ed25519.pub")" <scripts/provider-root.sh
fi

local_ssh() {
  # local_ssh USER [ssh options...]: log in to the local VPS and run `true`.
  local user="$1"
  shift
  ssh -q -p 2222 -i "$state/id_ed25519" -o StrictHostKeyChecking=accept-new \
    -o UserKnownHostsFile="$state/known_hosts" -o BatchMode=yes -o ConnectTimeout=2 "$@" "$user@127.0.0.1" true
}
for _ in $(seq 1 30); do
  local_ssh deploy 2>/dev/null || local_ssh root 2>/dev/null && break
  sleep 1
done

extra=()
names=(localhost)
if [ -n "${KIT_LOCAL_VARS:-}" ]; then
  [ -f "$KIT_LOCAL_VARS" ] || kit_die "KIT_LOCAL_VARS names $KIT_LOCAL_VARS, which is not a file"
  extra=(-e "@$(realpath "$KIT_LOCAL_VARS")")
  # The first server name of each app the file lists, but those it removes (state: absent).
  mapfile -t names < <(python3 -c 'import sys, yaml
for app in (yaml.safe_load(open(sys.argv[1])) or {}).get("apps", []):
    if app.get("state", "present") != "absent":
        print((app.get("nginx_server_names") or ["localhost"])[0])' "$KIT_LOCAL_VARS")
fi
kit_log "ansible-playbook -i inventories/local site.yml ${extra[*]}"
ansible-playbook -i inventories/local site.yml "${extra[@]}"

# nginx answers for its apps' names only (unknown names get no app response), with
# its self-signed placeholder certificate: no CA can reach this container.
for name in "${names[@]}"; do
  url="https://$name:8443/"
  kit_log "An app answers at $url"
  curl --silent --show-error --fail --insecure --resolve "$name:8443:127.0.0.1" "$url"
  echo
done

# What the hardened sshd allows, tried from here: the deploy user with its key, and
# neither root (with the very key root had) nor a password.
kit_log "SSH as deploy with the key: allowed"
local_ssh deploy
kit_log "SSH as root with the key it had: refused"
if local_ssh root 2>/dev/null; then kit_die "root can still log in to the local VPS over SSH"; fi
kit_log "SSH with a password: refused (the server offers only publickey)"
methods="$(ssh -p 2222 -o UserKnownHostsFile="$state/known_hosts" -o BatchMode=yes -o ConnectTimeout=5 \
  -o PreferredAuthentications=password -o PubkeyAuthentication=no deploy@127.0.0.1 true 2>&1 || true)"
case "$methods" in
  *"Permission denied (publickey)"*) echo "$methods" ;;
  *) kit_die "a password login was not refused as expected: $methods" ;;
esac
