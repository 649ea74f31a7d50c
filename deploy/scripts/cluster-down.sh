#!/usr/bin/env bash
# make cluster-down: remove every container, the network and the volumes of the project.
# Leaves the images (a rebuild is cached) and deploy/.env. Nothing runs afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if ! docker info >/dev/null 2>&1; then
  say "dockerd is not running: nothing to take down"
  exit 0
fi
say "docker-compose down (project tagfeed)"
env_file=$DEPLOY_DIR/.env
[ -f "$env_file" ] || env_file=/dev/null
"${COMPOSE[@]}" --env-file "$env_file" down --volumes --remove-orphans --timeout 10
left=$(docker ps -aq --filter label=com.docker.compose.project=tagfeed)
[ -z "$left" ] || die "containers left: $left"
say "cluster removed"
