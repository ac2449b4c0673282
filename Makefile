# Numax build. Pure Go: CGO_ENABLED=0 everywhere (Pebble would otherwise link
# a cgo zstd). `make demo` and `make test` each work on a fresh clone.
export CGO_ENABLED := 0

GO        ?= go
BIN       := bin
NX        := $(BIN)/nx
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GUESTS    := hello kv_counter kv_tour distributed_counter
STATICCHECK_VERSION := v0.8.2

.PHONY: generate all build demo demo-serve board notes examples deps-browser test check fmt vet staticcheck tidy cross bigfiles deps-c deps-redis deps-go bench soak guests-bench fuzz clean

all: build

# generate rebuilds the committed protobuf code (needs protoc and protoc-gen-go).
generate:
	@command -v protoc >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq protobuf-compiler; }
	@$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$$($(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc --go_out=. --go_opt=module=github.com/numax/numax -I internal/wire/wirepb internal/wire/wirepb/wire.proto

# build makes bin/nx (the node) and bin/nx-bench (the load harness that
# `nx bench` runs from beside nx; kept out of the node binary).
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(NX) ./cmd/nx
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/nx-bench ./cmd/nx-bench

# deps-c installs the C guest toolchain when it is missing (Debian).
deps-c:
	@if ! command -v clang >/dev/null 2>&1 || [ ! -f /usr/lib/wasm32-wasi/libc.a ] || ! ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1; then \
		echo "installing clang, lld, wasi-libc for C guests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null; \
	fi

# deps-redis installs Debian's redis-server for the redis-compare scenario
# (loopback only; nothing is started as a service by the scenario).
deps-redis:
	@if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then \
		echo "installing redis-server for nx bench redis-compare"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; \
	fi

# deps-browser installs Debian's chromium for the board's browser tests.
deps-browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

deps-go:
	@command -v staticcheck >/dev/null 2>&1 || [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ] || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# demo is the flagship: the shared task board (examples/board) on three
# nodes over mTLS, a scripted tour over HTTP (add on node 1, see it on node
# 3, cut node 3 off, edit on both sides, heal, one board everywhere); it
# ends by itself. demo-serve keeps the cluster up for a browser (Ctrl-C).
demo: build board
	$(GO) run ./examples/board/tour --nx $(NX) --board $(BIN)/board.wasm

demo-serve: build board
	$(GO) run ./examples/board/tour --nx $(NX) --board $(BIN)/board.wasm --serve

board:
	@mkdir -p $(BIN)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/board.wasm ./examples/board

# notes serves the shared note (examples/notes) on two nodes of this
# machine until Ctrl-C: open both pages and type in either.
notes: build
	@GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/notes.wasm ./examples/notes
	@rm -rf $(BIN)/notes-data; trap 'kill 0' INT TERM; \
	$(NX) run $(BIN)/notes.wasm --datastore-path $(BIN)/notes-data/1 --listen 127.0.0.1:7401 --http 127.0.0.1:8401 --tls-insecure --log-level warn & \
	$(NX) run $(BIN)/notes.wasm --datastore-path $(BIN)/notes-data/2 --listen 127.0.0.1:7402 --http 127.0.0.1:8402 --tls-insecure --log-level warn --peer 127.0.0.1:7401 & \
	echo "notes: open http://127.0.0.1:8401/ and http://127.0.0.1:8402/ (Ctrl-C stops both nodes)"; wait

# examples builds nx and the other example guests from source and runs the
# one-node tours and a three-node counter.
examples: build deps-c
	@mkdir -p $(BIN)/guests
	@for g in $(GUESTS); do GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/guests/$$g.wasm ./examples/$$g || exit 1; done
	@GOOS=wasip1 GOARCH=wasm $(GO) build -o $(BIN)/guests/hello_wasi.wasm ./examples/hello_wasi
	@clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c -o $(BIN)/guests/hello_c.wasm examples/hello_c/guest/hello.c
	@rm -rf $(BIN)/demo-data
	@echo "== hello (Go SDK)";          $(NX) run $(BIN)/guests/hello.wasm --datastore-path $(BIN)/demo-data
	@echo "== hello_c (C, nx.h)";       $(NX) run $(BIN)/guests/hello_c.wasm --datastore-path $(BIN)/demo-data
	@echo "== hello_wasi (WASI command)"; $(NX) run $(BIN)/guests/hello_wasi.wasm --datastore-path $(BIN)/demo-data -- alpha beta
	@echo "== kv_counter, three runs on one datastore"
	@for i in 1 2 3; do $(NX) run $(BIN)/guests/kv_counter.wasm --datastore-path $(BIN)/demo-data --log-level warn || exit 1; done
	@echo "== kv_tour";                 NX_GREETING=hi $(NX) run $(BIN)/guests/kv_tour.wasm --datastore-path $(BIN)/demo-data/tour --log-level warn
	@echo "== distributed_counter: 3 nodes on 127.0.0.1 adding 1, 2 and 3 visits; each prints the converged total"
	@rm -rf $(BIN)/demo-cluster; set -e; \
	P1=$$($(GO) run ./internal/testutil/freeport); P2=$$($(GO) run ./internal/testutil/freeport); P3=$$($(GO) run ./internal/testutil/freeport); \
	C="--tls-insecure --settle-for 3s --print-gcounter visits --log-level warn"; \
	$(NX) run $(BIN)/guests/distributed_counter.wasm --datastore-path $(BIN)/demo-cluster/n1 --listen $$P1 $$C | sed 's/^/node1: /' & \
	NX_VISITS=2 $(NX) run $(BIN)/guests/distributed_counter.wasm --datastore-path $(BIN)/demo-cluster/n2 --listen $$P2 --peer $$P1 --wait-before-run 5s $$C | sed 's/^/node2: /' & \
	NX_VISITS=3 $(NX) run $(BIN)/guests/distributed_counter.wasm --datastore-path $(BIN)/demo-cluster/n3 --listen $$P3 --peer $$P1 --peer $$P2 --wait-before-run 5s $$C | sed 's/^/node3: /' & \
	wait

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/go/... ./internal/abi

staticcheck: deps-go
	@PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	@PATH="$$PATH:$$($(GO) env GOPATH)/bin" GOOS=wasip1 GOARCH=wasm staticcheck ./sdk/go/...
	@# Guests' //go:wasmexport functions are called by the host, which U1000 cannot see.
	@PATH="$$PATH:$$($(GO) env GOPATH)/bin" GOOS=wasip1 GOARCH=wasm staticcheck -checks 'inherit,-U1000' ./examples/...

tidy:
	@cp go.mod /tmp/numax-go.mod.bak; cp go.sum /tmp/numax-go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changed go.mod/go.sum"; git diff -- go.mod go.sum; exit 1; fi

cross:
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/nx
	GOOS=linux GOARCH=riscv64 $(GO) build -o /dev/null ./cmd/nx
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/nx
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/nx
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/nx-bench
	GOOS=wasip1 GOARCH=wasm $(GO) build -o /dev/null ./sdk/go/... ./internal/abi
	@for g in $(GUESTS); do GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o /dev/null ./examples/$$g || exit 1; done

# bigfiles fails on any tracked file over 1 MB outside testdata/ and bench/results/.
bigfiles:
	@./scripts/bigfiles.sh

check: fmt vet staticcheck tidy cross bigfiles

# test = check + every test with the race detector. -race needs cgo, so it is
# the one place CGO_ENABLED=1 is set (for the test binaries only; nx itself is
# always built without cgo by the tests).
test: deps-c deps-redis deps-browser check
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 9m ./...
	$(GO) test -count=1 -run 'TestTombstonesCollectedOnceStable' ./internal/replica
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s

# fuzz runs every fuzz target for FUZZTIME (default 1m each). FUZZ_PKGS
# lists the packages that have fuzz targets (one per decoder). scripts/fuzz.sh
# re-runs a target only on Go 1.26's bare end-of-fuzztime deadline report
# (golang/go#75804); any finding fails.
FUZZTIME ?= 1m
FUZZ_PKGS := ./internal/abi ./internal/engine ./internal/crdt ./internal/wire ./internal/opauth ./internal/replica ./internal/store ./internal/seqview
fuzz:
	@GO=$(GO) ./scripts/fuzz.sh $(FUZZTIME) $(FUZZ_PKGS)

# bench runs the full load profile (reports in bench/results/latest, checked
# against bench/results/baseline: throughput -10%, p99 +20%) and the Go
# benchmarks with their same-run baselines.
bench: build deps-c deps-redis deps-browser guests-bench
	$(NX) bench store crdt-local crdt-scale text startup sync-3 sync-10 chaos partition redis-compare serve gossip --profile full \
		--report-dir bench/results/latest --baseline-dir bench/results/baseline $(BENCH_GUESTS)
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./bench/ | tee bench/results/latest/go-bench.txt
	$(GO) test -run '^$$' -bench Gossip32Partition -benchtime 1x -count 1 -timeout 15m ./internal/gossip/ | tee bench/results/latest/gossip-partition.txt
	$(GO) test -run '^$$' -bench . -count 1 ./internal/opauth/ | tee bench/results/latest/opauth.txt
	NX_RESULTS_DIR=$(CURDIR)/bench/results/latest $(GO) test -count 1 -run TestBrowser ./examples/board/tour/

# soak repeats the chaos and partition scenarios (full profile: a minute
# each) SOAK_ROUNDS times; every round must keep 0 double counts, 0
# divergence and 0 lost acknowledged ops (sync = always).
SOAK_ROUNDS ?= 5
soak: build deps-c guests-bench
	@for i in $$(seq $(SOAK_ROUNDS)); do \
		echo "soak round $$i/$(SOAK_ROUNDS)"; \
		$(NX) bench chaos partition --profile full --report-dir bench/results/soak/round-$$i $(BENCH_GUESTS) || exit 1; \
		if grep -hE '(double counts|diverging|acknowledged ops lost).*\*\*missed\*\*' bench/results/soak/round-$$i/chaos.md; then exit 1; fi; \
	done

BENCH_GUESTS = --store-guest $(BIN)/guests/dbwrite.wasm --scale-guest $(BIN)/guests/scalewriter.wasm --text-guest $(BIN)/guests/textreplay.wasm --trace ../shared/traces/seph-blog1.json.gz --go-guest $(BIN)/guests/hello.wasm --c-guest $(BIN)/guests/hello_c.wasm --writer-guest $(BIN)/guests/writer.wasm \
	--serve-c-guest $(BIN)/guests/trivial_http.wasm --serve-go-guest $(BIN)/guests/trivial_http_go.wasm --counter-guest $(BIN)/guests/counter.wasm
guests-bench:
	@mkdir -p $(BIN)/guests
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/guests/hello.wasm ./examples/hello
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/guests/writer.wasm ./testdata/guests/writer
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/guests/scalewriter.wasm ./testdata/guests/scalewriter
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/guests/textreplay.wasm ./testdata/guests/textreplay
	clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c -o $(BIN)/guests/hello_c.wasm examples/hello_c/guest/hello.c
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/guests/trivial_http_go.wasm ./testdata/guests/trivial_http_go
	clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c -o $(BIN)/guests/trivial_http.wasm testdata/guests/trivial_http.c
	clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c -o $(BIN)/guests/counter.wasm testdata/guests/counter.c
	clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c -o $(BIN)/guests/dbwrite.wasm testdata/guests/dbwrite.c

clean:
	rm -rf $(BIN)
