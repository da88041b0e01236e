# eserver-lab: `make bench` runs the benchmark, `make test` runs every test.
# Each target installs what it needs (npm packages; Debian packages through `make setup`).
SHELL := /bin/bash
NODE ?= node
RUNTIME ?= auto
PROFILE ?=
CONCURRENCY ?=
DURATION ?=
TOOL ?=

BENCH_ARGS = $(if $(PROFILE),--profile $(PROFILE)) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) \
             $(if $(DURATION),--duration $(DURATION)) $(if $(TOOL),--tool $(TOOL)) --runtime $(RUNTIME)

.PHONY: all setup deps build test bench bench-proto bench-ci bench-baseline report \
        lab-up lab-down lab-status lab-logs docker-base docker-engine docker-engine-stop clean

all: build

node_modules/.package-lock.json: package.json queue-server/package.json php-client/package.json bench/package.json
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

deps: node_modules/.package-lock.json

# Debian packages for the native stack (nginx, php-fpm, php-cli, mariadb). Installs them when missing
# on Debian/Ubuntu as root; otherwise prints exactly what to install.
setup: deps
	@bash bench/scripts/setup-deps.sh

build: deps
	@npx tsc -b queue-server php-client bench

test: setup build
	@bash .ci/test-all.sh

bench: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/cli.js run $(BENCH_ARGS)

bench-proto: build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/proto/cli.js $(ARGS)

bench-ci: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/gate/cli.js run $(ARGS)

bench-baseline: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/gate/cli.js baseline $(ARGS)

report: build
	@$(NODE) bench/dist/src/cli.js report $(if $(FILE),--file $(FILE))

lab-up: setup build
	@ulimit -n 20000 2>/dev/null || true; $(NODE) bench/dist/src/lab/cli.js up --runtime $(RUNTIME)

lab-down: build
	@$(NODE) bench/dist/src/lab/cli.js down

lab-status: build
	@$(NODE) bench/dist/src/lab/cli.js status

lab-logs: build
	@$(NODE) bench/dist/src/lab/cli.js logs

docker-base:
	@bash bench/scripts/docker-base.sh

docker-engine:
	@bash bench/scripts/docker-engine.sh start

docker-engine-stop:
	@bash bench/scripts/docker-engine.sh stop

clean:
	rm -rf */dist */tsconfig.tsbuildinfo
