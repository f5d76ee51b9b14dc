#!/bin/sh
# What a VPS provider's first boot does: a user `deploy` with sudo and one SSH key.
# Runs as root on the host, the public key as its first argument; `make local`, the
# site scenario and the benches run it through docker exec:
#   docker exec -i <container> sh -s -- "$(cat id_ed25519.pub)" < scripts/deploy-user.sh
# A second run changes nothing but the key.
set -eu
key="$1"
systemctl is-system-running --wait >/dev/null || true
id deploy >/dev/null 2>&1 || useradd --create-home --shell /bin/bash deploy
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
printf '%s\n' "$key" >/home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys && chmod 0600 /home/deploy/.ssh/authorized_keys
echo 'deploy ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy
