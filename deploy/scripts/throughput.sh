#!/usr/bin/env bash
# make cluster-bench: wrk through the gateway on 127.0.0.1, with the 3 API instances and then
# with 1 (api2 and api3 stopped, HAProxy's /readyz checks take them out), same requests.
# Results: deploy/results/throughput.md. The cluster must be up (make cluster).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || die "wrk is missing: apt-get install -y wrk"
port=${GATEWAY_PORT:-18080}
duration=${DURATION:-15s}
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
run() {  # $1 = label, $2 = path, $3 = method
  local label=$1 path=$2 method=${3:-GET} line
  local lua=()
  if [ "$method" = POST ]; then
    lua=(-s "$DEPLOY_DIR/scripts/post.lua")
  fi
  # Each component's CPU during the run, from its containers' cgroups (tests/cluster/cpu.py).
  line=$("$py" -m tests.cluster.cpu "$cpu" "$label | $method ${path%%\?*}" -- \
      wrk -t1 -c64 -d"$duration" --latency -H "$auth" "${lua[@]}" "http://127.0.0.1:$port$path" \
    | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {err=$5} /Socket errors/ {sock=$0}
           END {printf "%s | %s | %s | %s", rps, p50, p99, (err==""?0:err)}')
  say "$label $path: $line"
  echo "| $label | $method ${path%%\?*} | $line |" >>"$out"
}
{
  echo "# Through the gateway, $(date -u +%FT%TZ), wrk -t1 -c64 -d$duration, on 127.0.0.1"
  echo
  echo "| API instances | request | req/s | p50 | p99 | non-2xx |"
  echo "|---|---|---:|---:|---:|---:|"
} >"$out"
for n in 3 1; do
  if [ "$n" = 1 ]; then
    say "stopping api2 and api3"
    docker stop tagfeed_api2_1 tagfeed_api3_1 >/dev/null
    sleep 3
  fi
  run "$n" "/v1/messages/$id"
  run "$n" "/v1/messages?tag=benchtag&limit=50"
  run "$n" "/v1/messages" POST
done
say "starting api2 and api3 again"
docker start tagfeed_api2_1 tagfeed_api3_1 >/dev/null
{
  echo
  echo "Cores used during each run (CPU seconds / wall seconds, from the containers' cgroups;"
  echo "wrk's from its rusage). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| API instances | request | wrk | edge | gateways | API | PostgreSQL | etcd | NATS | others | total |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  cat "$cpu"
} >>"$out"
cat "$out"
