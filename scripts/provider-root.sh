#!/bin/sh
# What a VPS provider's first boot does: root with the customer's SSH key, and nothing
# else (no other user, no sudo rule). The kit takes the host from there
# (playbooks/tasks/connect.yml, the base role's first phases). Runs as root on the
# host, the public key as its first argument; `make local`, the site scenario and the
# benches run it through docker exec:
#   docker exec -i <container> sh -s -- "$(cat id_ed25519.pub)" < scripts/provider-root.sh
set -eu
key="$1"
systemctl is-system-running --wait >/dev/null || true
install -d -m 0700 /root/.ssh
printf '%s\n' "$key" >/root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
