# warmbox: make run (set up and serve), make test (everything CI runs).
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS_UNIT = $(shell $(GO) list ./... | grep -v '/test/')
GOTEST := $(GO) test -race -count=1
# Fuzzing counts executions, never wall-clock time: a -fuzztime duration races
# the coordinator's deadline and can fail with "context deadline exceeded"
# (golang/go#75804), and an unbounded minimization stalls a worker for up to 60 s.
FUZZ := $(GO) test -run '^$$' -fuzzminimizetime 2000x

.PHONY: all build engine images images-all run test test-unit test-integration test-clients test-telemetry test-hostile \
	test-faults soak soak-short bench lint fmt fuzz up down clean help kube-build kube-up kube-down test-kube kube-bench \
	install uninstall test-deploy

all: build

help:
	@echo "make run | test | build | images | bench | lint | fmt | up | down"

build: ## the daemon and the static runner
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/warmbox-runner ./cmd/warmbox-runner
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/warmbox ./cmd/warmbox

# install: the binaries, the systemd unit, a config (kept when present),
# the docs and the service user (in the docker group). DESTDIR stages it
# elsewhere (no user, no systemctl): `make test-deploy` checks the result.
PREFIX ?= /usr/local
install: build ## install the daemon as a systemd service (docs/DEPLOY.md)
	install -D -m 0755 $(BIN)/warmbox $(DESTDIR)$(PREFIX)/bin/warmbox
	install -D -m 0755 $(BIN)/warmbox-runner $(DESTDIR)$(PREFIX)/bin/warmbox-runner
	install -D -m 0644 deploy/systemd/warmbox.service $(DESTDIR)/etc/systemd/system/warmbox.service
	install -D -m 0644 docs/DEPLOY.md $(DESTDIR)$(PREFIX)/share/doc/warmbox/DEPLOY.md
	install -d -m 0750 $(DESTDIR)/etc/warmbox
	test -e $(DESTDIR)/etc/warmbox/config.yaml || install -m 0640 deploy/systemd/config.yaml $(DESTDIR)/etc/warmbox/config.yaml
	@if [ -z "$(DESTDIR)" ]; then \
	  getent group docker >/dev/null || groupadd --system docker; \
	  id warmbox >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --groups docker warmbox; \
	  chgrp warmbox /etc/warmbox /etc/warmbox/config.yaml; \
	  if [ -d /run/systemd/system ]; then systemctl daemon-reload && echo "start it: systemctl enable --now warmbox"; \
	  else echo "systemd is not running here: start warmbox another way"; fi; \
	fi

uninstall: ## remove what install put (the config and the user stay)
	rm -f $(DESTDIR)$(PREFIX)/bin/warmbox $(DESTDIR)$(PREFIX)/bin/warmbox-runner \
	  $(DESTDIR)/etc/systemd/system/warmbox.service $(DESTDIR)$(PREFIX)/share/doc/warmbox/DEPLOY.md

test-deploy: engine images build ## the deployment: make install (staged), the systemd unit, caddy over TLS, terraform/ applied and destroyed
	@command -v caddy >/dev/null && command -v systemd-analyze >/dev/null && command -v prometheus >/dev/null || { \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends caddy systemd prometheus >/dev/null; \
	  if [ -d /run/systemd/system ]; then systemctl disable --now caddy prometheus; fi; }
	deploy/host/tofu.sh build
	deploy/host/stack-images.sh
	$(GOTEST) -timeout 15m -p 1 ./test/deploy/...

engine: ## a Docker engine that answers (installs Debian's docker.io if needed)
	@deploy/host/engine.sh

# LANGS picks languages: make images LANGS="c go", make run LANGS=all.
# Empty: python, node and bash, the embedded defaults' enabled ones.
LANGS ?=
comma := ,
empty :=
space := $(empty) $(empty)

images: engine ## runtime images, built offline (LANGS="c go" or LANGS=all; FORCE=1 rebuilds)
	@deploy/host/images.sh $(LANGS)

images-all: engine ## every language's runtime image (make test needs them all)
	@deploy/host/images.sh all

run: engine images build ## serve with the embedded defaults (WARMBOX_CONFIG=file.yaml to override; LANGS="python go" serves those)
	$(if $(strip $(LANGS)),WARMBOX_LANGUAGES=$(subst $(space),$(comma),$(strip $(LANGS)))) exec $(BIN)/warmbox serve

test: engine images-all build test-unit test-integration test-clients test-telemetry test-hostile test-faults soak-short test-kube test-deploy ## everything

test-unit: ## package tests (pool with a fake runtime, runner in real containers, API with a fake service)
	$(GOTEST) -timeout 20m $(PKGS_UNIT)

test-integration: engine images-all ## the daemon end to end against the real engine, every language
	$(GOTEST) -timeout 30m -p 1 ./test/e2e/... ./test/benchrun/...

test-clients: engine images ## the real clients: piston-client, the codapi widget, the playground and the original page in Chromium, an OpenAPI validator
	deploy/host/clients.sh
	$(GOTEST) -timeout 20m -p 1 ./test/clients/...

test-telemetry: engine images ## traces in a real Jaeger, log records in a real VictoriaLogs, metrics in a real Prometheus
	deploy/host/promtool-check.sh
	deploy/host/jaeger.sh start
	deploy/host/victorialogs.sh start
	$(GOTEST) -timeout 20m -p 1 ./test/telemetry/...

test-hostile: engine images ## the hostile-code battery
	$(GOTEST) -timeout 30m -p 1 ./test/hostile/...

test-faults: engine images ## engine restarts, killed sandboxes, signals
	$(GOTEST) -timeout 30m -p 1 ./test/faults/...

soak-short: engine images
	WARMBOX_SOAK=60s $(GOTEST) -timeout 20m -p 1 -run TestSoak ./test/soak/...

soak: engine images ## 10 minutes at concurrency 32
	WARMBOX_SOAK=10m $(GO) test -count=1 -timeout 30m -v -run TestSoak ./test/soak/...

fuzz: ## each fuzz target for a bounded number of executions
	$(FUZZ) -fuzz FuzzReadFrame -fuzztime 150000x ./runner/wire/
	$(FUZZ) -fuzz FuzzValidateFileName -fuzztime 300000x ./runner/wire/
	$(FUZZ) -fuzz FuzzDecodeExecute -fuzztime 100000x ./httpapi/
	$(FUZZ) -fuzz FuzzParseDaemons -fuzztime 150000x ./bench/
	$(FUZZ) -fuzz FuzzParseRates -fuzztime 150000x ./bench/
	$(FUZZ) -fuzz FuzzHostsCheck -fuzztime 200000x ./policy/

bench: build ## warm vs cold against the daemon `make run` started
	$(BIN)/warmbox bench --out bench-results

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/layers/  # docs/DESIGN.md's import rules
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/warmbox  # the daemon links no Linux-only agent code

fmt:
	gofmt -w $$(git ls-files '*.go')

up: ## the compose stack (needs a host that can pull images, and GRAFANA_ADMIN_PASSWORD)
	docker compose up -d --build

down:
	docker compose down

kube-build: ## the Kubernetes testbed's binaries (etcd, kube-*), cached in /var/cache/warmbox-ci/k8s
	deploy/kubernetes/testbed.sh build

kube-up: engine images ## a real single-node Kubernetes (loopback-only pod network) with the images imported
	deploy/kubernetes/testbed.sh build
	deploy/kubernetes/testbed.sh up
	deploy/kubernetes/testbed.sh images

kube-down: ## stop the Kubernetes testbed and remove what it put on the host
	deploy/kubernetes/testbed.sh down

# The cluster is torn down whatever the tests do.
KUBE_RUN = deploy/kubernetes/testbed.sh build && trap 'deploy/kubernetes/testbed.sh down' EXIT && \
	deploy/kubernetes/testbed.sh up && deploy/kubernetes/testbed.sh images && \
	eval "$$(deploy/kubernetes/testbed.sh env)" &&

test-kube: engine images ## the Kubernetes backend against a real single-node cluster (built once, cached)
	$(KUBE_RUN) $(GOTEST) -timeout 40m -p 1 ./test/kube/...

kube-bench: engine images ## Kubernetes vs Docker backend: sandbox start, hand-off per mode, replacement rate
	$(KUBE_RUN) $(GO) test -count=1 -timeout 30m -v -run TestMeasure ./test/kube/

clean:
	rm -rf $(BIN) bench-results
