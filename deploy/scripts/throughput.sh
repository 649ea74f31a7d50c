#!/usr/bin/env bash
# make cluster-bench: wrk through the gateway on 127.0.0.1, with the 3 API instances and then
# with 1 (api2 and api3 stopped, HAProxy's /readyz checks take them out), same requests;
# with each run, the cores each component used (tests/cluster/cpu.py).
# Results: deploy/results/throughput.md. The cluster must be up (make cluster).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || die "wrk is missing: apt-get install -y wrk"
port=${GATEWAY_PORT:-18080}
duration=${DURATION:-15s}
rounds=${ROUNDS:-1}   # ROUNDS=3: 3, 1, 1, 3, 3, 1 instances, for medians
py="${VENV:-$REPO_DIR/.venv}/bin/python"
cd "$REPO_DIR"
token=$("$py" -c 'from tests.cluster.cluster import Cluster; print(Cluster.from_env().token("bench"))')
auth="Authorization: Bearer $token"
# One message to read, and a tag with a page of them.
id=$("$py" - "$port" "$token" <<'PY'
import sys, httpx
base, token = f"http://127.0.0.1:{sys.argv[1]}", sys.argv[2]
h = {"Authorization": f"Bearer {token}"}
with httpx.Client(base_url=base, headers=h, timeout=10) as c:
    ids = [c.post("/v1/messages", json={"text": f"bench {i}", "tag": "benchtag"}).json()["id"] for i in range(60)]
print(ids[-1])
PY
)
out="$DEPLOY_DIR/results/throughput.md"
cpu=$(mktemp)
trap 'rm -f "$cpu"' EXIT
mkdir -p "$(dirname "$out")"
run() {  # $1 = instances, $2 = round, $3 = request's name, $4 = path, $5 = method
  local n=$1 round=$2 name=$3 path=$4 method=${5:-GET} line
  local lua=()
  if [ "$method" = POST ]; then
    lua=(-s "$DEPLOY_DIR/scripts/post.lua")
  fi
  # Each component's CPU during the run, from its containers' cgroups (tests/cluster/cpu.py).
  line=$("$py" -m tests.cluster.cpu "$cpu" "$n | $round | $name" -- \
      wrk -t1 -c64 -d"$duration" --latency -H "$auth" "${lua[@]}" "http://127.0.0.1:$port$path" \
    | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {err=$5} /Socket errors/ {sock=$0}
           END {printf "%s | %s | %s | %s", rps, p50, p99, (err==""?0:err)}')
  say "$n instance(s), round $round, $name: $line"
  echo "| $n | $round | $name | $line |" >>"$out"
}
instances() {  # $1 = 3 or 1: api2 and api3 started (and healthy) or stopped
  if [ "$1" = 1 ]; then
    say "stopping api2 and api3"
    docker stop tagfeed_api2_1 tagfeed_api3_1 >/dev/null
  else
    say "starting api2 and api3"
    docker start tagfeed_api2_1 tagfeed_api3_1 >/dev/null
    for _ in $(seq 60); do
      [ "$(docker inspect -f '{{.State.Health.Status}}' tagfeed_api2_1 tagfeed_api3_1 | sort -u)" = healthy ] && break
      sleep 1
    done
  fi
  sleep 3  # the gateways' checks (every second) see it
}
{
  echo "# Through the gateway, $(date -u +%FT%TZ), wrk -t1 -c64 -d$duration, on 127.0.0.1, $rounds round(s)"
  echo
  echo "| API instances | round | request | req/s | p50 | p99 | non-2xx |"
  echo "|---|---:|---|---:|---:|---:|---:|"
} >"$out"
# Rounds alternate the order (3 then 1, 1 then 3, ...) so that neither always runs
# first on a machine whose other load drifts.
for round in $(seq "$rounds"); do
  order="3 1"
  [ $((round % 2)) = 0 ] && order="1 3"
  for n in $order; do
    instances "$n"
    run "$n" "$round" "GET by id" "/v1/messages/$id"
    run "$n" "$round" "tag page of 50" "/v1/messages?tag=benchtag&limit=50"
    run "$n" "$round" "POST" "/v1/messages" POST
  done
done
instances 3
{
  echo
  echo "Cores used during each run (CPU seconds / wall seconds, from the containers' cgroups;"
  echo "wrk's from its rusage). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| API instances | round | request | wrk | edge | gateways | API | PostgreSQL | etcd | NATS | others | total |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  cat "$cpu"
} >>"$out"
cat "$out"
