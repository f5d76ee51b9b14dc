#!/usr/bin/env bash
# Make sure a Docker engine answers. As root on Debian, install docker.io and
# start dockerd when `docker info` fails; elsewhere, say what is missing.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "docker-engine: no Docker engine answers 'docker info'." >&2
  echo "docker-engine: start one (or install Docker) and run this again; as root on Debian this script installs docker.io itself." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-engine: installing docker.io" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
fi
command -v docker >/dev/null 2>&1 || {
  echo "docker-engine: the docker client is missing after installing docker.io" >&2
  exit 1
}

if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
  systemctl start docker
else
  # A dockerd that was killed leaves its pid file behind, and a new one refuses to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  echo "docker-engine: starting dockerd (log: /var/log/dockerd-kit.log)" >&2
  nohup dockerd >/var/log/dockerd-kit.log 2>&1 &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; see /var/log/dockerd-kit.log" >&2
exit 1
