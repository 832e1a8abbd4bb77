# bwmon: `make run` builds and starts the agent with its built-in defaults
# (as root; RUNFLAGS="-state-dir /tmp/bw" adds flags); `make test` runs the
# whole suite (the end-to-end tests need root and create their own network
# namespaces); `make install` installs the binary, the configuration and the
# systemd unit (docs/service.md); `make deb` builds a Debian package of the
# same (docs/package.md).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
DESTDIR    ?=

.PHONY: all build run test vet fuzz rules bench clean install uninstall deb generate check-generate

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/bwmon ./cmd/bwmon

RUNFLAGS ?=
run: build
	./bin/bwmon $(RUNFLAGS)

vet:
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change (run gofmt -w on them):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

# Unit tests, then the end-to-end tests against the real kernel. -p 1: the
# end-to-end tests of different packages share the host's conntrack and
# process tables, so packages run one at a time.
test: vet rules check-generate
	$(GO) test -count=1 -p 1 -timeout 30m ./...
	$(MAKE) fuzz

# The eBPF programs of the socket monitor (monitor/internal/sockbpf/bpf):
# bpf2go compiles them with Debian's clang into an object and its Go
# wrapper, both committed, so that building bwmon needs no clang.
# Needs clang, llvm and libbpf-dev.
generate:
	$(GO) generate ./monitor/internal/sockbpf

# Fails when the committed eBPF object or wrapper is not what `make
# generate` builds from the sources (then commit what it built). Without
# clang this is a skip, and under CI a failure.
check-generate:
	@command -v clang >/dev/null && command -v llvm-strip >/dev/null || { echo "check-generate: clang or llvm-strip not found: apt-get install clang llvm libbpf-dev"; [ -z "$$CI" ] || [ "$$CI" = false ]; exit $$?; }; \
	set -e; d=monitor/internal/sockbpf; tmp=$$(mktemp -d); \
	cp $$d/sockbpf_bpfel.o $$d/sockbpf_bpfel.go $$tmp/; \
	$(GO) generate ./$$d; \
	stale=; for f in sockbpf_bpfel.o sockbpf_bpfel.go; do cmp -s $$tmp/$$f $$d/$$f || stale="$$stale $$f"; done; \
	rm -rf $$tmp; \
	if [ -n "$$stale" ]; then echo "check-generate: $$d:$$stale differed from its sources (now rebuilt): commit them"; exit 1; fi

# The shipped Prometheus rules (contrib/prometheus): promtool checks them
# and runs their unit tests. promtool is in Debian's prometheus package;
# without it this is a skip, and under CI a failure.
PROMTOOL ?= promtool
rules:
	@command -v $(PROMTOOL) >/dev/null || { echo "rules: $(PROMTOOL) not found: apt-get install prometheus"; [ -z "$$CI" ] || [ "$$CI" = false ]; exit $$?; }; \
	$(PROMTOOL) check rules contrib/prometheus/*.rules.yml && \
	$(PROMTOOL) test rules contrib/prometheus/*_test.yml

# Every Fuzz target of every package, FUZZTIME each (go test runs one fuzz
# target at a time). The seed corpora also run in the plain tests above.
FUZZTIME ?= 3s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || \
			case "$$out" in *"Failing input written"*) false;; *"context deadline exceeded"*) \
				echo "fuzz: $$f: the fuzzer's own deadline race (no failing input), once more"; \
				out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1);; *) false;; esac || \
				{ echo "$$out" | tail -n 40; echo "fuzz: $$pkg $$f failed (the input is saved under testdata/fuzz)"; exit 1; }; \
		done; \
	done

# The benchmark suite (root; about ten minutes): installs iperf3 and nethogs
# if absent, prints the results and rewrites bench/README.md. Not part of
# `make test`.
bench:
	@command -v iperf3 >/dev/null && command -v nethogs >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 nethogs; }
	$(GO) run ./bench/bwbench -root .

# install never overwrites an existing configuration: a newer
# config.example.toml is the reference for new keys.
install: build
	install -D -m 0755 bin/bwmon $(DESTDIR)$(BINDIR)/bwmon
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/bwmon
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/bwmon/config.toml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/bwmon/config.toml (see config.example.toml for the current keys)"; \
	else \
		echo "install -m 0644 config.example.toml $(DESTDIR)$(SYSCONFDIR)/bwmon/config.toml"; \
		install -m 0644 config.example.toml $(DESTDIR)$(SYSCONFDIR)/bwmon/config.toml; \
	fi
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/bwmon|$(BINDIR)/bwmon|g' -e 's|/etc/bwmon/|$(SYSCONFDIR)/bwmon/|g' \
		cmd/bwmon/bwmon.service > $(DESTDIR)$(UNITDIR)/bwmon.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/bwmon.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed; start it with: systemctl enable --now bwmon"

# uninstall keeps the configuration and the state (/var/lib/bwmon).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bwmon $(DESTDIR)$(UNITDIR)/bwmon.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# The Debian package bin/bwmon_VERSION_ARCH.deb (docs/package.md), built
# with dpkg-deb by packaging/deb/mkdeb.sh. Its version is VERSION made
# Debian-valid (v1.2.3-5-gabc1234 is 1.2.3+git5.gabc1234); DEB_VERSION,
# DEB_OUTDIR, DEB_CONFIG, DEB_MAINTAINER, DEB_COMPRESS and DEB_UNITDIR,
# given to make or in the environment, reach the script, whose top says
# what each does.
deb:
	@GO="$(GO)" VERSION="$(VERSION)" packaging/deb/mkdeb.sh

clean:
	rm -rf bin
