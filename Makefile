# PostTrain: `make demo` tunes the default model and shows the result; `make test` runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := demo

# OpenBLAS misidentifies some virtualised CPUs and then runs slow kernels; name the core from the
# CPU's flags (the posttrain binary does the same by itself; this covers test and bench runs).
CORETYPE := $(shell grep -qw avx512bw /proc/cpuinfo 2>/dev/null && echo SKYLAKEX || (grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo HASWELL))
ifneq ($(CORETYPE),)
export OPENBLAS_CORETYPE ?= $(CORETYPE)
endif

.PHONY: setup build test demo bench clean

setup:
	@bash scripts/setup.sh

build: setup
	swift build -c release --product posttrain

test: setup
	swift test

demo: build
	bash scripts/demo.sh

# Matmul throughput (issue 2) and the fused kernels; scripts/bench_sft.sh, bench_generate.sh and
# bench_dpo.sh compare whole jobs with mlx-lm and take longer.
bench: setup
	bash scripts/bench_sgemm.sh
	.build/release/posttrain-bench kernels

clean:
	rm -rf .build .build-*
