# eserver-lab: `make bench` runs the benchmark, `make test` runs every test.
# Each target installs what it needs (npm packages; Debian packages through `make setup`).
# QUEUE_RUNTIME=bun|node (environment or `make ... QUEUE_RUNTIME=node`) picks the runtime of the queue server
# for the lab (native and Docker), bench, chaos, the gate, bench-proto and the tests (default bun; see
# queue-server/src/runtime.ts).
SHELL := /bin/bash
NODE ?= node
RUNTIME ?= auto
PROFILE ?=
CONCURRENCY ?=
DURATION ?=
TOOL ?=
# LOAD_HOST=netns: the load from a network namespace of its own, over a veth pair (bench/README.md, "On two machines").
LOAD_HOST ?=
# The stack's CPU budget: empty = this CPU model's calibration (results/calibration/), else the whole machine.
CPUS ?=
# CALIBRATE=1: when no calibration matches this CPU model, run make calibrate first.
CALIBRATE ?=
REPEAT ?=
LISTEN_BACKLOG ?=
# The queue server side by side: QUEUE_RUNTIMES=node,bun and FSYNC=always,interval,off run every enqueuing
# profile (seed, persistent, smoke) once per combination (QUEUE_RUNTIME, singular, stays the one-runtime
# switch of the tests and bench-proto, and the default of QUEUE_RUNTIMES).
QUEUE_RUNTIMES ?=
FSYNC ?=

BENCH_ARGS = $(if $(PROFILE),--profile $(PROFILE)) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) \
             $(if $(DURATION),--duration $(DURATION)) $(if $(TOOL),--tool $(TOOL)) --runtime $(RUNTIME) \
             $(if $(CPUS),--cpus $(CPUS)) $(if $(CALIBRATE),--calibrate) \
             $(if $(REPEAT),--repeat $(REPEAT)) $(if $(LISTEN_BACKLOG),--listen-backlog $(LISTEN_BACKLOG)) \
             $(if $(QUEUE_RUNTIMES),--queue-runtime $(QUEUE_RUNTIMES)) $(if $(FSYNC),--fsync $(FSYNC)) \
             $(if $(LOAD_HOST),--load-host $(LOAD_HOST))

.PHONY: all setup deps build test test-two-host fuzz bench calibrate bench-proto bench-ci bench-baseline bench-gate-accept bench-gate-power chaos report \
        lab-up lab-down lab-status lab-logs docker-base docker-engine docker-engine-stop \
        docker-engine-remote docker-engine-remote-stop clean

all: build

node_modules/.package-lock.json: package.json common/package.json queue-server/package.json php-client/package.json bench/package.json
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

deps: node_modules/.package-lock.json

# Debian packages for the native stack (nginx, php-fpm, php-cli, mariadb). Installs them when missing
# on Debian/Ubuntu as root; otherwise prints exactly what to install.
setup: deps
	@bash bench/scripts/setup-deps.sh

# tsc sets no executable bit, and npm links workspace bins only when their file existed at install time.
BINS = queue-server/dist/src/cli.js:eserver-queue bench/dist/src/cli.js:eserver-bench bench/dist/src/lab/cli.js:eserver-lab
build: deps
	@npx tsc -b common queue-server php-client bench
	@for b in $(BINS); do f=$${b%%:*}; n=$${b##*:}; chmod +x $$f && ln -sfn ../../$$f node_modules/.bin/$$n; done

test: setup build
	@bash .ci/test-all.sh

# Two hosts on this machine (issue 25): make bench RUNTIME=docker PROFILE=smoke against a second Docker engine
# in a network namespace of its own (docker-engine-remote), Ctrl-C included; root. Not in `make test`: a fresh
# clone first builds that engine's base and images (about 2 minutes more). .ci/run runs it before make test.
test-two-host: setup build
	@bash .ci/test-all.sh bench/dist/test/docker-two-host.e2e.js

# Frame fuzz of the queue server on loopback: 1M well-formed frames (maximum-size, escape-heavy ones
# among them) plus garbage connections; reports RSS. ARGS e.g. --frames 100000 --seed 7
fuzz: build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) queue-server/dist/test/fuzz-run.js $(ARGS)

bench: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/cli.js run $(BENCH_ARGS)

# The emulated 2013 box: the CPU quota at which the 2013-style stack gives 43226 pages/min, by bisection then
# interpolation on the median of 3 runs per point (10k clients, 30 s), aiming at ±1% (±3% accepted): about 15-25 min. Quick look: ARGS="--runs 1 --duration 10".
calibrate: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/calibrate/cli.js $(ARGS)

bench-proto: build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/protocol-bench/cli.js $(ARGS)

# The CI gate: this working tree's queue server against our own at the pinned commit (reference.commit in
# results/baseline.json), or against BASE=<commit or branch>, both measured at once (about 10 minutes).
bench-ci: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/gate/cli.js run $(if $(BASE),--base $(BASE)) $(ARGS)

# A/A: the pinned commit against itself; writes each ratio's tolerance into results/baseline.json (about 15 minutes).
bench-baseline: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/gate/cli.js baseline $(ARGS)

# Accept the performance of a commit: the gate's reference moves to REF (default HEAD). Commit the file.
bench-gate-accept: build
	@$(NODE) bench/dist/src/gate/cli.js accept $(if $(REF),--ref $(REF))

# How often the gate catches a 10% slowdown (a CPU burn per connection, and one per 8001, in the candidate
# only) and how often clean runs are flagged: 10 runs of each, each exactly what bench-ci runs (hours).
bench-gate-power: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/gate/cli.js power $(ARGS)

# The stack through faults (bench/src/chaos): kill -9 of the queue server x5 per fsync policy, MySQL
# restart and SIGSTOP, php-fpm restart, full disk under the journal; about 6 minutes natively.
# ARGS passes more options, e.g. make chaos ARGS='--only kill-always --concurrency 500'
chaos: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/cli.js chaos --runtime $(RUNTIME) $(ARGS)

report: build
	@$(NODE) bench/dist/src/cli.js report $(if $(FILE),--file $(FILE))

# LAB_ARGS passes more options, e.g. make lab-up LAB_ARGS='--http-port 18080 --cpus 1 --memory 1g'
lab-up: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/lab/cli.js up --runtime $(RUNTIME) $(if $(LISTEN_BACKLOG),--listen-backlog $(LISTEN_BACKLOG)) $(LAB_ARGS)

lab-down: build
	@$(NODE) bench/dist/src/lab/cli.js down --runtime $(RUNTIME) $(LAB_ARGS)

lab-status: build
	@$(NODE) bench/dist/src/lab/cli.js status --runtime $(RUNTIME) $(LAB_ARGS)

lab-logs: build
	@$(NODE) bench/dist/src/lab/cli.js logs --runtime $(RUNTIME) $(LAB_ARGS)

docker-base:
	@bash bench/scripts/docker-base.sh

docker-engine:
	@bash bench/scripts/docker-engine.sh start

docker-engine-stop:
	@bash bench/scripts/docker-engine.sh stop

# A second Docker host on this machine (a dockerd in a network namespace of its own, reached over TCP on a
# veth pair in 198.18.0.0/15): point the lab at it with make bench RUNTIME=docker DOCKER_HOST=<what it prints>.
docker-engine-remote: build
	@bash bench/scripts/docker-engine-remote.sh start

docker-engine-remote-stop:
	@bash bench/scripts/docker-engine-remote.sh stop

clean:
	rm -rf */dist */tsconfig.tsbuildinfo
