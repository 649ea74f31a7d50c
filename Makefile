# tagfeed — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint install migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install tagfeed with its dev tools

# make run HOST=0.0.0.0 PORT=9090 passes --host/--port; otherwise tagfeed reads TAGFEED_HOST
# and TAGFEED_PORT (default 127.0.0.1:8080). Only values given on make's command line
# count: a PORT or HOST exported by the shell for something else is not taken for ours.
run: $(STAMP)  ## serve (default http://127.0.0.1:8080, SQLite ./tagfeed.db unless TAGFEED_DATABASE_URL)
	$(BIN)/tagfeed serve $(if $(filter command line,$(origin HOST)),--host $(HOST)) \
	  $(if $(filter command line,$(origin PORT)),--port $(PORT))

migrate: $(STAMP)
	$(BIN)/tagfeed migrate

test: $(STAMP)  ## unit, integration (SQLite + PostgreSQL if TAGFEED_TEST_POSTGRES_URL) and e2e
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy/fence
	$(BIN)/ruff format --check src tests bench deploy/fence
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tagfeed.db*

# -- benchmark (docs/performance.md) ------------------------------------------------------
# make bench [BACKEND=sqlite|postgres] [WORKERS=1] [MESSAGES=1000000] [BENCH_ARGS=...]
BACKEND     ?= sqlite
WORKERS     ?= 1
MESSAGES    ?=
BENCH_ARGS  ?=
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_RUN    = $(BIN)/python -m bench.run --backend $(BACKEND) --workers $(WORKERS) \
               $(if $(MESSAGES),--messages $(MESSAGES)) $(BENCH_ARGS)

.PHONY: bench bench-quick bench-ab bench-trees bench-tools

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench-tools:  ## wrk and nginx from Debian (installed here when root), pgbench for PostgreSQL
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "bench: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	  else \
	    echo "bench: missing$$missing; install with: sudo apt-get install -y$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi; \
	if [ "$(BACKEND)" = postgres ] && ! command -v pgbench >/dev/null \
	   && ! ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1; then \
	  echo "bench: pgbench is missing; it comes with the server: sudo apt-get install -y postgresql-15" >&2; \
	  exit 1; \
	fi

bench: $(BENCH_STAMP) bench-tools  ## the full benchmark: report in bench/results/ (about 12 minutes)
	$(BENCH_RUN)

bench-quick: $(STAMP) bench-tools  ## 100k messages, one short sweep, prints the ratios (< 2 minutes)
	$(BENCH_RUN) --quick

# make bench-ab AB=TAGFEED_METRICS=false [BENCH_ARGS="--scenarios get_by_id --rounds 8"]
# make bench-ab AB="--a-tagfeed /work/main/.venv/bin/tagfeed": A is that tree, B this one
bench-ab: $(STAMP) bench-tools  ## two servers, one with the setting AB, driven in turn (~2 min)
	$(BIN)/python -m bench.ab $(AB) $(BENCH_ARGS)

# make bench-trees TREE=/path/to/other/checkout (with its .venv) [BENCH_ARGS="--rounds 6"]
bench-trees: $(STAMP) bench-tools  ## this tree against another checkout, each its own database (~3 min)
	$(BIN)/python -m bench.trees $(TREE) $(BENCH_ARGS)

# The server comparison (docs/performance.md, "Server: granian"): tagfeed and the bare peer on
# granian and on uvicorn. UVICORN_TAGFEED: the tagfeed command of a tree from before the
# switch (its serve runs uvicorn); without it, this tree's app under plain uvicorn.
UVICORN_TAGFEED ?=
SERVER_ARGS     ?=

.PHONY: bench-servers
bench-servers: $(BENCH_STAMP) bench-tools  ## tagfeed and the peer, granian vs uvicorn (~7 min)
	$(BIN)/python -m bench.server_choice \
	  $(if $(UVICORN_TAGFEED),--uvicorn-tagfeed $(UVICORN_TAGFEED)) $(SERVER_ARGS)

# Streams (docs/performance.md, "Streams"): 1,000 streams and 1,000 posts/s, then 10,000
# idle streams, on one SQLite server process. STREAMS_ARGS: see python -m bench.streams -h.
STREAMS_ARGS ?=

.PHONY: bench-streams
bench-streams: $(STAMP)  ## stream latency (201 -> event) and idle RSS; prints JSON (~1 minute)
	$(BIN)/python -m bench.streams $(STREAMS_ARGS)

# Reducer lag (docs/performance.md, "Reducer lag"): posts open loop at 5,000/s on one SQLite
# server process running the catch-up reducers, their checkpoints sampled every 2 ms.
# LAG_ARGS: e.g. "--postgres", "--reducers processes", "--rate 2000", "--driver append" (no
# HTTP: posts through the store's append path in one process); python -m bench.lag -h.
LAG_ARGS ?=

.PHONY: bench-lag
bench-lag: $(STAMP)  ## catch-up reducers' lag (commit - recorded_at) p50/p99/max; prints JSON (~1 min)
	$(BIN)/python -m bench.lag $(LAG_ARGS)

# Rebuild (docs/performance.md, "Rebuild"): the bench data set imported into a fresh SQLite
# file and PostgreSQL database, then `tagfeed rebuild VIEW` timed for every view.
# REBUILD_ARGS: see python -m bench.rebuild -h; e.g. --before 0da6980 times that revision too.
REBUILD_ARGS ?=

.PHONY: bench-rebuild
bench-rebuild: $(STAMP)  ## rebuild rate of every view, 1M events, both backends (~10 minutes)
	$(BIN)/python -m bench.rebuild $(REBUILD_ARGS)

# -- fault tests (docs/reliability.md) ----------------------------------------------------
# SIGKILL/SIGTERM under load (server, relay, reducers), a PostgreSQL of their own stopped and
# locked, SQLite locked.
FAULTS_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: faults

faults: $(STAMP)  ## crash, shutdown and database faults under load; prints a summary (~5-10 min)
	TAGFEED_TEST_POSTGRES_URL="$${TAGFEED_TEST_POSTGRES_URL:-$(FAULTS_POSTGRES_URL)}" \
	  $(BIN)/pytest -q -m faults tests/faults $(PYTEST_ARGS)

# -- cluster (docs/deployment.md) -----------------------------------------------------------
# HAProxy + keepalived gateways, 3 tagfeed instances, PostgreSQL 15 x3 under Patroni, etcd x3,
# NATS JetStream x3 with the relay and the catch-up reducers as services,
# in Docker (Debian's docker.io, compose v1; dockerd is started when needed). The gateway
# listens on 127.0.0.1:$(GATEWAY_PORT) only.
GATEWAY_PORT ?= 18080
export GATEWAY_PORT

.PHONY: image cluster cluster-down cluster-smoke chaos cluster-bench

image:  ## build the images (and the local Debian 12 base images when no registry has them)
	deploy/scripts/image.sh

cluster:  ## start the cluster; serving on http://127.0.0.1:$(GATEWAY_PORT) when it returns
	deploy/scripts/cluster-up.sh

cluster-down:  ## remove the cluster's containers, network and volumes
	deploy/scripts/cluster-down.sh

cluster-smoke: $(STAMP)  ## up, JWT, post + read, 401, 403, 200 through the gateway, down (CI)
	deploy/scripts/smoke.sh

chaos: $(STAMP)  ## faults one at a time under load; results in deploy/results/ (< 15 min)
	deploy/scripts/chaos.sh

cluster-bench: $(STAMP)  ## wrk through the gateway, 3 API instances then 1: deploy/results/throughput.md
	deploy/scripts/throughput.sh
