#!/usr/bin/env bash
# make image: dockerd, the local base images (only if missing), then every image of the
# cluster. Docker's layer cache makes a second run take seconds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$DEPLOY_DIR/scripts/dockerd.sh"
for base in debian:bookworm-slim python:3.11-slim-bookworm; do
  docker image inspect "$base" >/dev/null 2>&1 || { "$DEPLOY_DIR/scripts/base.sh"; break; }
done
build() {  # $1 = tag, $2 = context, rest = docker build args
  local tag=$1 ctx=$2; shift 2
  say "docker build -t $tag $ctx"
  # --network host: the build reaches the package mirrors the way the host does.
  local log
  log=$(mktemp)
  if ! docker build --network host -t "$tag" "$@" "$ctx" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; die "docker build -t $tag failed"
  fi
  rm -f "$log"
}
build tagfeed "$REPO_DIR"
build tagfeed-gateway "$DEPLOY_DIR/gateway"
build tagfeed-postgres "$DEPLOY_DIR/postgres"
build tagfeed-etcd "$DEPLOY_DIR/etcd"
build tagfeed-nats "$DEPLOY_DIR/nats"
say "images: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^tagfeed' | tr '\n' ' ')"
