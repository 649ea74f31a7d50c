#!/usr/bin/env bash
# make chaos: the cluster up (if it is not), then tests/cluster/chaos.py: one fault at a
# time under load through 127.0.0.1, results in deploy/results/. The cluster stays up for
# a look afterwards (make cluster-down removes it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
start=$(date +%s)
"$DEPLOY_DIR/scripts/cluster-up.sh"
cd "$REPO_DIR"
say "python -m tests.cluster.chaos $*"
# A bound on the whole run, whatever happens inside it.
timeout --foreground 900 "${VENV:-.venv}/bin/python" -m tests.cluster.chaos "$@"
say "chaos took $(( $(date +%s) - start )) s; results in deploy/results/"
