#!/usr/bin/env bash
# make cluster: secrets, images, `docker-compose up`, then wait until a request through
# the gateway on 127.0.0.1 is served by an instance that reaches the primary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
start=$(date +%s)
"$DEPLOY_DIR/scripts/secrets.sh"
"$DEPLOY_DIR/scripts/image.sh"
say "docker-compose up -d (project tagfeed)"
"${COMPOSE[@]}" --env-file "$DEPLOY_DIR/.env" up -d --remove-orphans
port=${GATEWAY_PORT:-18080}
say "waiting for http://127.0.0.1:$port/readyz through the gateway (up to 180 s)"
for _ in $(seq 180); do
  if python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2)
PY
  then
    say "cluster serving on http://127.0.0.1:$port after $(( $(date +%s) - start )) s"
    "${COMPOSE[@]}" --env-file "$DEPLOY_DIR/.env" ps
    exit 0
  fi
  sleep 1
done
"${COMPOSE[@]}" --env-file "$DEPLOY_DIR/.env" ps
"${COMPOSE[@]}" --env-file "$DEPLOY_DIR/.env" logs --tail 20
die "the gateway did not serve /readyz within 180 s"
