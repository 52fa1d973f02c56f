# webfarm: an autoscaled web farm on Apache Mesos.
# make demo   the web farm on the embedded Mesos cluster, real HAProxy in front
# make test   installs what it needs, then vet, staticcheck and go test -race
# make bench  the benchmarks (HAProxy pool changes under load, Stats, scheduler)
# make chaos  the long fault-injection suite

GO      ?= go
PKGS    ?= ./...
TESTFLAGS ?= -race -p 2 -timeout 15m

.PHONY: all demo test unit deps lint vet staticcheck bench chaos simulate fuzz-scaler fuzz-mesos-local fmt fuzz-haproxy

all: test

deps:
	@scripts/deps.sh test

# make demo BACKEND=apache installs apache2 and runs Apache tasks; DEMOFLAGS adds flags (-load=false, -master …).
BACKEND ?= auto
demo:
	@scripts/deps.sh demo $(BACKEND)
	$(GO) run ./examples/haproxy-apache -backend $(BACKEND) $(DEMOFLAGS)

test: deps vet staticcheck
	$(GO) test $(TESTFLAGS) $(PKGS)
	# The Budget goals on week-long replays: too slow under -race, which
	# replays two days of them above.
	$(GO) test -count=1 -run '^TestBudgetGoalsOnSlices$$' ./scaler/sim/

unit:
	$(GO) test -short $(TESTFLAGS) $(PKGS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

staticcheck:
	@test -x .bin/staticcheck || scripts/deps.sh test
	.bin/staticcheck $(PKGS)

# lint adds govulncheck, which needs its vulnerability database: GOVULNDB
# (https://vuln.go.dev, or file:///path/to/a/copy). When the database cannot
# be reached lint says so and skips that step; VULNCHECK=required fails instead.
GOVULNDB ?= https://vuln.go.dev
lint: vet staticcheck
	@out=$$($(GO) run golang.org/x/vuln/cmd/govulncheck@v1.1.4 -db $(GOVULNDB) $(PKGS) 2>&1); rc=$$?; echo "$$out"; \
	if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'fetching vulnerabilities'; then \
		echo "lint: WARNING: govulncheck SKIPPED: its vulnerability database $(GOVULNDB) cannot be reached from this machine"; \
		echo "lint: (set GOVULNDB=file:///path/to/a/vulndb copy, or run make lint where vuln.go.dev is reachable; VULNCHECK=required makes this an error)"; \
		[ "$(VULNCHECK)" != required ] || exit 1; exit 0; \
	fi; exit $$rc

bench:
	@scripts/deps.sh bench
	WEBFARM_BENCH=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

chaos:
	@scripts/deps.sh chaos
	WEBFARM_CHAOS=full $(GO) test -race -run Chaos -timeout 60m -v ./examples/chaos ./mesos ./mesos/zk

# simulate: every policy on the NASA trace's training part (to 08-22), its
# held-out part (08-23..31) and 1-minute traces synthesised from each (at
# random and in bursts); the scaler package doc has the protocol.
simulate:
	$(GO) run ./examples/simulate -trace ../shared/traces/nasa-http-1995-5m.csv -peak 5000 -startup 30s -heldout 1995-08-23 -minute

# fuzz-scaler: every policy stays in [Min, Max] and never panics, on any input.
fuzz-scaler:
	$(GO) test ./scaler/baseline -run '^$$' -fuzz FuzzPolicies -fuzztime 60s

# fuzz-mesos-local: call decoding, calls through a live master, RecordIO framing
# (our reader, and the guard in front of mesos-go's reader).
fuzz-mesos-local:
	$(GO) test ./mesos/local -run '^$$' -fuzz FuzzDecodeCall -fuzztime 60s
	$(GO) test ./mesos/local -run '^$$' -fuzz FuzzHandleCall -fuzztime 60s
	$(GO) test ./internal/recordio -run '^$$' -fuzz FuzzReader -fuzztime 60s
	$(GO) test ./internal/recordio -run '^$$' -fuzz FuzzGuard -fuzztime 60s

# fuzz-haproxy: the driver's rewrite of haproxy.cfg and its Config, haproxyproc's
# rendering, the demo's flag parsers.
fuzz-haproxy:
	$(GO) test ./lb/haproxy -run '^$$' -fuzz FuzzRewriteServers -fuzztime 60s
	$(GO) test ./lb/haproxy -run '^$$' -fuzz FuzzConfig -fuzztime 30s
	$(GO) test ./internal/haproxyproc -run '^$$' -fuzz FuzzRender -fuzztime 30s
	$(GO) test ./examples/haproxy-apache -run '^$$' -fuzz FuzzParseFarm -fuzztime 30s
	$(GO) test ./examples/haproxy-apache -run '^$$' -fuzz FuzzParseServe -fuzztime 30s

fmt:
	gofmt -w $$(git ls-files '*.go')
