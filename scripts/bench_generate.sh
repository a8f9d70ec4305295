#!/usr/bin/env bash
# Generation throughput of the default model (SmolLM2-135M-Instruct), one markdown table:
#   PostTrain `posttrain generate` with the GGUF's quantized weights (the default: 4-bit linears,
#   8-bit embedding/lm_head, decoded by quantizedGEMV) and with --float (dequantized float32),
#   beside mlx-lm on the same weights: `mlx_lm.benchmark -p 128 -g 128` on the float32 HF
#   conversion and on its 4-bit group-32 quantization (what ../shared/baseline measured).
# Every run is a 128-token prompt and 128 generated tokens with end-of-sequence ignored
# (posttrain --ignore-eos; mlx_lm.benchmark disables EOS), greedy, batch 1; then a small batch
# (BATCH prompts at once) against mlx-lm fp32 at the same batch size (tokens/s are totals over the
# batch on both sides; mlx-lm's 4-bit batch is left out: its prompt alone takes minutes).
# Then `posttrain-bench generate`: the matrix products of one decoding step alone.
#
# Usage (from the repository root, after `bash scripts/setup.sh`):
#   bash scripts/bench_generate.sh
# The mlx-lm side comes from the shared baseline (../shared/baseline/run_baseline.sh); its venv
# and model conversions are created once by running that script with MODES="" (setup only).
# Settings by environment: RUNS (3 runs of each, median reported), TOKENS (128), BATCH (4; 0 skips
# the batch rows), BASELINE
# (../shared/baseline), VENV (/tmp/mlxvenv), HF (/tmp/smollm2-hf), Q4 (/tmp/smollm2-mlx-q4g32),
# SCRATCH (a --scratch-path for swift build), SKIP_BUILD=1, MICRO=0 skips posttrain-bench.
# OPENBLAS_CORETYPE is respected when set (as the Makefile does), else chosen from the CPU flags.
# Build output and progress go to stderr; stdout carries only the table and its notes.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
TOKENS="${TOKENS:-128}"
BATCH="${BATCH:-4}"
BASELINE="${BASELINE:-$(cd .. && pwd)/shared/baseline}"
VENV="${VENV:-/tmp/mlxvenv}"
HF="${HF:-/tmp/smollm2-hf}"
Q4="${Q4:-/tmp/smollm2-mlx-q4g32}"
MICRO="${MICRO:-1}"
GGUF="$(pwd)/.deps/models/SmolLM2-135M-Instruct.Q4_1.gguf"
OPENBLAS_SO=/usr/lib/x86_64-linux-gnu/libopenblas.so.0
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

[ -f "$GGUF" ] || die "$GGUF is missing: run bash scripts/setup.sh first"
[ "$RUNS" -ge 1 ] 2>/dev/null || die "RUNS must be a positive integer"

# OpenBLAS misidentifies this kind of virtual CPU; mlx-lm gets the same core type as posttrain.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512bw /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=SKYLAKEX
  elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=HASWELL; fi
fi

build=(swift build -c release)
[ -n "${SCRATCH:-}" ] && build+=(--scratch-path "$SCRATCH")
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building posttrain and posttrain-bench (release)"
  "${build[@]}" --product posttrain >&2
  [ "$MICRO" = 1 ] && "${build[@]}" --product posttrain-bench >&2
fi
BIN="$("${build[@]}" --show-bin-path)"
[ -x "$BIN/posttrain" ] || die "$BIN/posttrain is missing (build it, or unset SKIP_BUILD)"

if [ ! -x "$VENV/bin/mlx_lm.benchmark" ] || [ ! -f "$HF/model.safetensors" ] || [ ! -f "$Q4/model.safetensors" ]; then
  [ -f "$BASELINE/run_baseline.sh" ] || die "no mlx-lm setup and no $BASELINE/run_baseline.sh to make one"
  log "setting up mlx-lm and the converted models with $BASELINE/run_baseline.sh (MODES=\"\": setup only)"
  MODES="" GGUF="$GGUF" VENV="$VENV" HF="$HF" Q4="$Q4" bash "$BASELINE/run_baseline.sh" >&2
fi

# A fixed raw prompt of 128 tokens (SmolLM2's tokenizer; checked against the count posttrain prints).
PROMPT="The history of the printing press begins in the fifteenth century, when Johannes Gutenberg \
combined movable metal type, oil-based ink and a wooden screw press into a system that could \
produce books far faster than scribes. Within fifty years presses operated in more than two \
hundred European cities, and millions of volumes had been printed. The consequences reached \
into religion, science, politics and everyday life. Write a detailed essay that explains how \
the printing press changed the spread of knowledge, the growth of literacy, the standardisation \
of languages and the speed at which new ideas could travel between scholars, merchants and rulers \
across the continent in the two centuries that followed its invention."

load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

declare -A PROMPT_TPS GEN_TPS PEAK NOTE REF
ORDER=()

# posttrain generate: "prompt: N tokens, X tokens/s | generation: M tokens, Y tokens/s | peak memory Z GB"
run_posttrain() {  # name, reference-suffix, extra flags...
  local name=$1 ref=$2; shift 2
  local p=() g=() m=() n="" out
  for r in $(seq "$RUNS"); do
    log "$name: run $r/$RUNS (load $(load))"
    out="$("$BIN/posttrain" generate --raw --ignore-eos --max-tokens "$TOKENS" --prompt "$PROMPT" "$@" 2>&1 >/dev/null)" \
      || die "$name failed: $out"
    local line; line="$(grep '^prompt:' <<<"$out" | tail -1)"
    [ -n "$line" ] || die "$name: no throughput line in: $out"
    n="$(sed -E 's/^prompt: ([0-9]+) tokens.*/\1/' <<<"$line") prompt, $(sed -E 's/.*generation: ([0-9]+) tokens.*/\1/' <<<"$line") generated"
    p+=("$(sed -E 's/^prompt: [0-9]+ tokens, ([0-9.]+) tokens\/s.*/\1/' <<<"$line")")
    g+=("$(sed -E 's/.*generation: [0-9]+ tokens, ([0-9.]+) tokens\/s.*/\1/' <<<"$line")")
    m+=("$(sed -E 's/.*peak memory ([0-9.]+) GB.*/\1/' <<<"$line")")
  done
  PROMPT_TPS[$name]="$(printf '%s\n' "${p[@]}" | median)"
  GEN_TPS[$name]="$(printf '%s\n' "${g[@]}" | median)"
  PEAK[$name]="$(printf '%s\n' "${m[@]}" | median)"
  NOTE[$name]="$n; gen runs: ${g[*]}"
  REF[$name]="$ref"
  ORDER+=("$name")
}

# mlx_lm.benchmark: "Trial i:  prompt_tps=X, generation_tps=Y, peak_memory=Z, total_time=T"
run_mlx() {  # name, reference-suffix, model dir, batch size
  local name=$1 ref=$2 model=$3 batch=$4 out
  log "$name: $RUNS trials (load $(load))"
  out="$(LD_PRELOAD=$OPENBLAS_SO "$VENV/bin/mlx_lm.benchmark" --model "$model" -p 128 -g "$TOKENS" -b "$batch" -n "$RUNS" 2>&1)" \
    || die "$name failed: $out"
  local trials; trials="$(grep -E '^Trial [0-9]+:' <<<"$out")" || die "$name: no trial lines in: $out"
  PROMPT_TPS[$name]="$(sed -E 's/.*prompt_tps=([0-9.]+).*/\1/' <<<"$trials" | median)"
  GEN_TPS[$name]="$(sed -E 's/.*generation_tps=([0-9.]+).*/\1/' <<<"$trials" | median)"
  PEAK[$name]="$(sed -E 's/.*peak_memory=([0-9.]+).*/\1/' <<<"$trials" | median)"
  NOTE[$name]="random 128-token prompts; gen runs: $(sed -E 's/.*generation_tps=([0-9.]+).*/\1/' <<<"$trials" | tr '\n' ' ')"
  REF[$name]="$ref"
  ORDER+=("$name")
}

LOAD_BEFORE="$(load)"
run_posttrain "PostTrain, quantized (default)" ""
run_posttrain "PostTrain, --float" "" --float
run_mlx "mlx-lm fp32" "" "$HF" 1
run_mlx "mlx-lm q4g32" "" "$Q4" 1
if [ "$BATCH" -gt 1 ] 2>/dev/null; then
  extra=()
  for _ in $(seq 2 "$BATCH"); do extra+=(--prompt "$PROMPT"); done
  run_posttrain "PostTrain, quantized, batch $BATCH" ", batch $BATCH" "${extra[@]}"
  run_posttrain "PostTrain, --float, batch $BATCH" ", batch $BATCH" --float "${extra[@]}"
  run_mlx "mlx-lm fp32, batch $BATCH" ", batch $BATCH" "$HF" "$BATCH"
fi
LOAD_AFTER="$(load)"

MICRO_OUT=""
if [ "$MICRO" = 1 ]; then
  log "posttrain-bench generate (matrix products of one decoding step)"
  MICRO_OUT="$("$BIN/posttrain-bench" generate --rows 1,4)"
fi

ratio() {  # value, name of the reference run (absent: n/a)
  local b="${GEN_TPS[$2]:-0}"
  awk -v a="$1" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'
}

echo "## Generation, SmolLM2-135M-Instruct, greedy, 128-token prompt + $TOKENS tokens (median of $RUNS)"
echo
echo "| run | prompt tok/s | generation tok/s | peak GB | gen vs mlx-lm fp32 | gen vs mlx-lm q4 |"
echo "|---|---|---|---|---|---|"
for name in "${ORDER[@]}"; do
  printf '| %s | %.1f | %.2f | %.2f | %s | %s |\n' "$name" "${PROMPT_TPS[$name]}" "${GEN_TPS[$name]}" "${PEAK[$name]}" \
    "$(ratio "${GEN_TPS[$name]}" "mlx-lm fp32${REF[$name]}")" "$(ratio "${GEN_TPS[$name]}" "mlx-lm q4g32${REF[$name]}")"
done
echo
for name in "${ORDER[@]}"; do echo "- $name: ${NOTE[$name]}"; done
echo "- load average (1/5/15 min): before $LOAD_BEFORE, after $LOAD_AFTER on $(nproc) CPUs (a shared machine: numbers are noisy)"
echo "- ratios compare generation tokens/s with mlx-lm at the same batch size (batch rows: totals over the batch)"
echo "- peak: PostTrain's MLX peak during generation; mlx-lm's peak_memory. OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
if [ -n "$MICRO_OUT" ]; then
  echo
  echo "Matrix products of one decoding step alone (posttrain-bench generate; float32 = OpenBLAS,"
  echo "mlx-q = MLX's quantized_matmul, gemv = quantizedGEMV; 4-bit linears, 8-bit lm_head):"
  echo
  echo '```'
  echo "$MICRO_OUT"
  echo '```'
fi
