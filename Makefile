# lklimg: make builds every command into bin/; make test runs every test.
GO       ?= go
export CGO_ENABLED := 0
CMDS     := $(notdir $(wildcard cmd/*))
FUZZTIME ?= 30s

.PHONY: all build test bench fuzz lint clean

all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -o bin/ ./cmd/...
	ln -sf cptofs bin/cpfromfs # one binary: cpfromfs is cptofs called by that name

# Tests that need a tool or loop devices skip with their reason; under
# CI=true a skip is a failure (see internal/testutil).
test: build
	$(GO) test -count=1 -timeout 30m ./...

# Side-by-side ratios against the peer tools (needs root, the corpus from
# bench/corpus.sh and the peers from bench/peers.sh, which it runs when missing).
bench: build
	./bench/run.sh

# Runs every fuzz target for FUZZTIME each. A new input is minimized in 10
# runs at most: the targets that take a whole superblock or descriptor table
# would otherwise spend their time shrinking each one.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $$pkg || exit 1; \
	  done; \
	done

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin
