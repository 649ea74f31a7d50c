#!/usr/bin/env bash
# Start the Docker daemon unless one answers already; install Debian's docker.io and
# docker-compose (v1) first if they are missing. Idempotent: a second run only checks.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null; then
  [ "$(id -u)" = 0 ] || die "docker.io and docker-compose are missing: sudo apt-get install -y docker.io docker-compose"
  say "installing docker.io docker-compose from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose >/dev/null
fi

if docker info >/dev/null 2>&1; then
  say "dockerd answers"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "dockerd is not running and only root can start it"
log=/var/log/tagfeed-dockerd.log
say "starting dockerd (no systemd here), log in $log"
# setsid: the daemon outlives this script and the make that ran it.
setsid dockerd >>"$log" 2>&1 </dev/null &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { say "dockerd is up"; exit 0; }
  sleep 1
done
tail -20 "$log" >&2
die "dockerd did not answer within 60 s"
