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
    cat "$log" >&2; rm -f "$log"; say "error: docker build -t $tag failed"; return 1
  fi
  rm -f "$log"
  say "built $tag"
}
# Side by side: each mostly waits on a package mirror (apt, PyPI), and a cached build
# takes a second. Every image derives from the local bases, none from another.
pids=()
build tagfeed "$REPO_DIR" & pids+=($!)
build tagfeed-gateway "$DEPLOY_DIR/gateway" & pids+=($!)
build tagfeed-postgres "$DEPLOY_DIR/postgres" & pids+=($!)
build tagfeed-etcd "$DEPLOY_DIR/etcd" & pids+=($!)
build tagfeed-nats "$DEPLOY_DIR/nats" & pids+=($!)
build tagfeed-fence "$DEPLOY_DIR/fence" & pids+=($!)
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
[ "$failed" = 0 ] || die "an image did not build (its log is above)"
say "images: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^tagfeed' | tr '\n' ' ')"
