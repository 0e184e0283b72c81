# SPDX-License-Identifier: Apache-2.0
# xlvs: `make demo` and `make test` work on a fresh Debian machine (run as root).

BUILD      := build
BPF_SRC    := $(wildcard bpf/*.bpf.c)
BPF_OBJ    := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRC))
BPF_HDR    := $(wildcard bpf/*.h)
# The benchmarks' own XDP programs (generator, sink, floor, ...): bench/bpf, built beside the product's.
BENCH_BPF_SRC := $(wildcard bench/bpf/*.bpf.c)
BENCH_BPF_OBJ := $(patsubst bench/bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BENCH_BPF_SRC))
# Test-only XDP programs (test/bpf: the ring-buffer producer, ...), built beside the product's too.
TEST_BPF_SRC := $(wildcard test/bpf/*.bpf.c)
TEST_BPF_OBJ := $(patsubst test/bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(TEST_BPF_SRC))
CLANG      ?= clang
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -fno-strict-aliasing -Wall -Werror -I/usr/include/$(shell uname -m)-linux-gnu
DEPS_STAMP := $(BUILD)/.deps
ABI_TS     := src/gen/abi.ts
DECAP_ABI_TS := src/gen/decap-abi.ts
PROTO_FILE := xlvs/v1/xlvs.proto
PROTO      := proto/$(PROTO_FILE)
PROTO_TS_DIR := src/gen/proto
PROTO_TS   := $(PROTO_TS_DIR)/xlvs.ts
# The options of src/api/proto.ts's LOADER_OPTIONS: the types describe what that loader hands over.
PROTO_GEN_FLAGS := --keepCase --longs=String --enums=String --defaults --oneofs --grpcLib=@grpc/grpc-js --importFileExtension=.js
TS_SRC     := $(shell find src lab testing test bench -name '*.ts' 2>/dev/null) tsconfig.json
TS_STAMP   := $(BUILD)/.tsc

.PHONY: all deps build bpf test unit demo teardown clean bench

all: build

deps: $(DEPS_STAMP)
$(DEPS_STAMP): package.json package-lock.json scripts/deps.sh
	@mkdir -p $(BUILD)
	./scripts/deps.sh
	@touch $@

bpf: $(BPF_OBJ) $(BENCH_BPF_OBJ) $(TEST_BPF_OBJ)
$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDR) $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/%.bpf.o: bench/bpf/%.bpf.c $(BPF_HDR) $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -Ibpf -c $< -o $@
$(BUILD)/%.bpf.o: test/bpf/%.bpf.c $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The TypeScript codecs come from the compiled object's BTF (bpf/xlvs_abi.h is the source).
$(ABI_TS): $(BUILD)/xlvs.bpf.o scripts/gen-abi.mjs
	node scripts/gen-abi.mjs $< $@

# The same for the real servers' tunnel decapsulation program (bpf/xlvs_decap_abi.h).
$(DECAP_ABI_TS): $(BUILD)/xlvs_decap.bpf.o scripts/gen-abi.mjs
	node scripts/gen-abi.mjs $< $@

# The API's message types come from the proto (src/api/proto.ts loads the same file at run time).
# The folder is made afresh so a message removed from the proto leaves no file behind.
$(PROTO_TS): $(PROTO) $(DEPS_STAMP)
	rm -rf $(PROTO_TS_DIR)
	node_modules/.bin/proto-loader-gen-types $(PROTO_GEN_FLAGS) -I proto -O $(PROTO_TS_DIR) $(PROTO_FILE)

$(TS_STAMP): $(TS_SRC) $(ABI_TS) $(DECAP_ABI_TS) $(PROTO_TS) $(DEPS_STAMP)
	npx tsc -p tsconfig.json
	@touch $@

build: $(BPF_OBJ) $(BENCH_BPF_OBJ) $(TEST_BPF_OBJ) $(TS_STAMP)

# Unit and integration tests; integration tests build namespaces and load XDP (root).
# Only *.test.js: the helper modules beside the tests (fixtures, runners) are not tests.
test: build
	node --test --test-concurrency=1 --test-timeout=300000 dist/test/unit/*.test.js dist/test/integration/*.test.js

unit: build
	node --test dist/test/unit/*.test.js

# Benchmarks (issue 4): writes bench/results/latest.md and latest.json.
bench: build
	node dist/bench/run.js

demo: build
	node dist/lab/demo.js

# Removes a data plane left running by `xlvsd` (default pin dir).
teardown: build
	node dist/src/cli/xlvsd.js --teardown

clean:
	rm -rf $(BUILD) dist src/gen
