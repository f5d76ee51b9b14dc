#!/usr/bin/env bash
# Build a systemd-enabled Debian test image with debootstrap + docker import.
# Usage: scripts/build-image.sh [bookworm|trixie]
# The image name comes from KIT_IMAGE (default: fastapi-kit/debian-<suite>:systemd).
# An image that already exists is reused; KIT_REBUILD_IMAGE=1 forces a rebuild.
set -euo pipefail

suite="${1:-bookworm}"
case "$suite" in
  bookworm | 12 | debian12) suite=bookworm ;;
  trixie | 13 | debian13) suite=trixie ;;
  *)
    echo "build-image: unknown suite '$suite' (bookworm or trixie)" >&2
    exit 2
    ;;
esac
image="${KIT_IMAGE:-fastapi-kit/debian-${suite}:systemd}"
# A Debian mirror for debootstrap; unset, debootstrap uses its own default.
mirror="${KIT_DEBIAN_MIRROR:-}"

if [ "${KIT_REBUILD_IMAGE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "build-image: reusing $image"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
  else
    echo "build-image: debootstrap is missing; install it (apt-get install debootstrap)" >&2
    exit 1
  fi
fi

rootfs="$(mktemp -d /var/tmp/kit-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

# What a fresh VPS image typically has: systemd as init, python3 for Ansible,
# sudo, an SSH server, and the tools a provider's image ships (iproute2, procps).
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,openssh-server,iproute2,procps,gnupg

echo "build-image: debootstrap $suite into $rootfs"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" ${mirror:+"$mirror"} >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"

# Container-friendly systemd: no getty on a console that does not exist,
# no attempt to remount or fsck a root it does not own.
for unit in getty@tty1.service console-getty.service systemd-remount-fs.service \
  systemd-firstboot.service sys-kernel-config.mount sys-kernel-debug.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Keep the image small and let the test hosts share an apt cache.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# No package lists: make them look as old as they are, so apt's cache_valid_time updates them.
touch -d @0 "$rootfs/var/lib/apt/lists"
# An SSH host key per container, not one baked into the image.
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/keygen.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
echo "kit-test" >"$rootfs/etc/hostname"
: >"$rootfs/etc/machine-id"

echo "build-image: importing as $image"
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  - "$image" >/dev/null
echo "build-image: built $image"
