# bwmon: `make run` builds and starts the agent with its built-in defaults
# (as root); `make test` runs the whole suite (the end-to-end tests need root
# and create their own network namespaces).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test vet bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/bwmon ./cmd/bwmon

run: build
	./bin/bwmon

vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

# Unit tests, then the end-to-end tests against the real kernel. -p 1: the
# end-to-end tests of different packages share the host's conntrack and
# process tables, so packages run one at a time.
test: vet
	$(GO) test -count=1 -p 1 -timeout 30m ./...

# The benchmark suite (root; about 5 minutes): installs iperf3 and nethogs
# if absent, prints the results and rewrites bench/README.md. Not part of
# `make test`.
bench:
	@command -v iperf3 >/dev/null && command -v nethogs >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 nethogs; }
	$(GO) run ./bench/bwbench -root .

clean:
	rm -rf bin
