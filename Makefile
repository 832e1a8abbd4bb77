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

bench:
	@echo "the benchmark suite comes with issue 6"; exit 1

clean:
	rm -rf bin
