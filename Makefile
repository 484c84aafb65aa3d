# servicecomb_exporter build, test and run targets. `make help` lists them.

GO          ?= go
BINARY      ?= servicecomb_exporter
PKG         := github.com/servicecomb/servicecomb_exporter
VERSION     ?= $(shell cat VERSION)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH      ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER  ?= $(shell whoami)@$(shell hostname)
BUILD_DATE  ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
               -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
               -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
RUN_ARGS    ?=
BENCH_TIME  ?= 2s
BENCH_COUNT ?= 5

.PHONY: all build build-simulator docker release mixin manifests status-screenshot bench-status test fuzz test-deps test-short lint run bench bench-notify bench-registry bench-forwarder help

all: lint test build ## lint, test and build

# Every target carries its help after "##" on its own line; `make help`
# lists them all (a test checks that every .PHONY target has one).
help: ## this list
	@awk -F ':.*## ' '/^[a-zA-Z_-]+:.*## / { printf "%-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build ./servicecomb_exporter with version information
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) ./cmd/exporter

build-simulator: ## build ./servicecomb_simulator
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o servicecomb_simulator ./cmd/simulator

# The tests run the real Alertmanager, Prometheus (and promtool), chromium
# for the status page and, for the fault tests, etcd (Debian's etcd-server:
# it can be killed and frozen) and jq and curl (a runbook's commands are run
# as written); on Debian as root they are installed when missing.
# SERVICECOMB_REQUIRE_BINARIES makes a missing binary fail the tests instead
# of skipping them. The fault tests (e2e/faults_test.go) mostly wait, one of
# them on a 30 s SIGSTOP: -parallel 4 runs them side by side.
test: test-deps ## every test with the race detector (installs what the tests need), then each fuzz target briefly
	promtool test rules rules/*.rules_test.yml
	SERVICECOMB_REQUIRE_BINARIES=1 $(GO) test -race -count=1 -parallel 4 -timeout 8m ./...
	$(MAKE) --no-print-directory fuzz

# Every fuzz target, each for FUZZ_TIME (a few seconds in `make test`; set it
# longer for a real search). A failing input is saved under the package's
# testdata/fuzz and replayed by every later `go test`.
FUZZ_TIME ?= 3s
fuzz: ## each fuzz target for FUZZ_TIME (default 3s)
	@for file in $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz $$(dirname $$file) $$target for $(FUZZ_TIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZ_TIME) ./$$(dirname $$file) || exit 1; \
		done; \
	done

TEST_PACKAGES := prometheus-alertmanager prometheus chromium etcd-server jq curl
test-deps: ## install the Debian packages the tests need (prometheus, prometheus-alertmanager, chromium, etcd-server, jq, curl), as root
	@missing=""; \
	command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v etcd >/dev/null 2>&1 || missing="$$missing etcd-server"; \
	command -v jq >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 || missing="$$missing jq curl"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "the tests need:$$missing (Debian packages)"; exit 1; \
	fi

test-short: ## the quick tests only (go test -short), without the race detector
	$(GO) test -count=1 -short ./...

lint: test-deps ## gofmt, go vet, promtool check rules and the dashboard and rule conventions
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	promtool check rules rules/*.rules.yml
	$(GO) test -count=1 -run 'FollowConventions' ./e2e

# docs/status-page.png: /status in chromium during an etcd outage, taken by
# the browser test (with the build's version information).
status-screenshot: test-deps ## regenerate docs/status-page.png from the browser test
	$(GO) test -count=1 -ldflags '$(LDFLAGS)' -run '^TestStatusPageInBrowser$$' ./cmd/exporter -args -status-screenshot=$(CURDIR)/docs/status-page.png

# The simulator on an embedded etcd and the exporter reading it.
run: build build-simulator ## the simulator on an embedded etcd and the exporter reading it (RUN_ARGS: exporter flags)
	./scripts/run-demo.sh $(RUN_ARGS)

bench: bench-notify bench-registry bench-forwarder bench-status bench-services ## every benchmark (bench-notify, bench-registry, bench-forwarder, bench-status, bench-services)

# Registry benchmarks: 1,000 domains and 100,000 services with 100,000 and
# 1,000,000 instances in an embedded etcd (several minutes, a few GiB of
# memory); BENCH_REGISTRY_INSTANCES=100000 for a quick run. SyncEtcdProcess
# loads the same registries into Debian's etcd, run as a separate process.
BENCH_REGISTRY_INSTANCES ?= 100000,1000000
bench-registry: test-deps ## etcd source benchmarks (BENCH_REGISTRY_INSTANCES; several minutes)
	BENCH_REGISTRY_INSTANCES=$(BENCH_REGISTRY_INSTANCES) $(GO) test -run '^$$' -bench 'Registry' -benchtime 3x -timeout 60m ./source/etcd
	SERVICECOMB_REQUIRE_BINARIES=1 BENCH_REGISTRY_INSTANCES=$(BENCH_REGISTRY_INSTANCES) $(GO) test -run '^$$' -bench 'SyncEtcdProcess' -benchtime 3x -timeout 60m ./source/etcd

# Per-service metrics: the scrape of 100,000 services against GaugeVecs
# holding the same series, the State's memory and sync cost per service.
bench-services: ## per-service metrics: scrape against GaugeVecs, State memory, per-service on against off
	$(GO) test -run '^$$' -bench 'ServiceScrape' -benchtime 20x -benchmem ./collector
	$(GO) test -run '^$$' -bench 'StateMemory' -benchtime 1x ./registry
	$(GO) test -run '^$$' -bench 'ApplyList' -benchtime 20x ./registry

bench-notify: ## notify bus benchmarks
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) -count $(BENCH_COUNT) ./notify

# Raise-to-accepted latency, capacity (none dropped at 10,000/s, the largest
# clean rate) and the unpaced ceiling against a local real Alertmanager; -v
# logs each window's account.
bench-forwarder: test-deps ## raise-to-accepted latency and throughput against a real Alertmanager
	SERVICECOMB_REQUIRE_BINARIES=1 $(GO) test -run '^$$' -bench 'Forward' -benchtime 3x -v ./forwarder

# /status with 1,000 domains: the whole exporter on an embedded etcd, the
# page alone, and the per-domain summary.
bench-status: ## the status page with 1,000 domains, against /metrics
	$(GO) test -run '^$$' -bench 'StatusPage' -benchtime 50x -count 3 ./cmd/exporter ./web
	$(GO) test -run '^$$' -bench 'Summaries' -benchtime 50x -count 3 ./source

# Container image (needs a Docker engine).
IMAGE ?= servicecomb_exporter
docker: ## the container image servicecomb_exporter:<VERSION> and :latest (needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg BRANCH=$(BRANCH) \
		-t $(IMAGE):$(VERSION) -t $(IMAGE):latest .

# Versioned tarballs for linux/amd64 and linux/arm64 with SHA-256 checksums,
# in dist/.
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64
release: ## versioned linux/amd64 and linux/arm64 tarballs with SHA-256 sums in dist/
	rm -rf dist && mkdir -p dist
	for platform in $(RELEASE_PLATFORMS); do \
		os=$${platform%/*}; arch=$${platform#*/}; name=servicecomb_exporter-$(VERSION).$$os-$$arch; \
		mkdir -p dist/$$name && \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/$$name/servicecomb_exporter ./cmd/exporter && \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/$$name/servicecomb_simulator ./cmd/simulator && \
		cp -r README.md docs rules dashboards mixin examples dist/$$name/ && \
		tar -C dist -czf dist/$$name.tar.gz $$name && rm -rf dist/$$name || exit 1; \
	done
	cd dist && sha256sum *.tar.gz > sha256sums.txt && cat sha256sums.txt

# rules/servicecomb.rules.yml and dashboards/*.json, rendered from the
# monitoring mixin in mixin/ with go-jsonnet, then the Kubernetes manifests
# made from them (tests fail when any of them disagree with mixin/).
mixin: ## regenerate rules/, dashboards/ and the Kubernetes manifests from mixin/
	$(GO) run ./internal/mixin/cmd/genmixin
	$(MAKE) manifests

# The PrometheusRule and the Grafana dashboards ConfigMap in deploy/kubernetes,
# generated from rules/ and dashboards/ (a test fails when they disagree).
manifests: ## regenerate the Kubernetes PrometheusRule and dashboards ConfigMap
	$(GO) run ./internal/manifests/cmd/genmanifests
