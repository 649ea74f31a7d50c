#!/usr/bin/env bash
# The cluster's smoke (CI): make cluster, the pytest smoke through the gateway on 127.0.0.1
# (tests/cluster/test_smoke.py), then make cluster-down whatever happened.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
start=$(date +%s)
trap 'rc=$?; "$DEPLOY_DIR/scripts/cluster-down.sh"; say "smoke took $(( $(date +%s) - start )) s, exit $rc"; exit $rc' EXIT
"$DEPLOY_DIR/scripts/cluster-up.sh"
say "pytest -m cluster tests/cluster/test_smoke.py"
cd "$REPO_DIR"
"${VENV:-.venv}/bin/pytest" -q -p no:cacheprovider -m cluster tests/cluster/test_smoke.py
