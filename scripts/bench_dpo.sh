#!/usr/bin/env bash
# DPO (sigmoid) throughput and memory with LoRA on SmolLM2-135M and LLaMA-Factory's
# dpo_en_demo.json, three ways of getting the reference log-probs:
#   precomputed  — one forward pass over the data before training, cached; no reference in memory;
#   ref in memory — a second copy of the model held and run every step (--ref-model);
#   adapters off — the policy run again with its LoRA adapters disabled every step (no copy).
#
#   bash scripts/bench_dpo.sh     # STEPS=8 PAIRS=32 BATCH=2 MAX_LENGTH=512 by default
#
# Settings by environment: STEPS (optimizer steps), PAIRS (first N pairs of the file), BATCH (pairs
# per step), MAX_LENGTH, RANK, OUT (work folder), SCRATCH (SwiftPM build folder, default .build).
# Steps/s and tokens/s are over the training steps' own wall time (metrics.jsonl step_seconds;
# tokens are all non-padding tokens of chosen and rejected rows); the precompute pass is reported
# separately. Peak memory is MLX's allocator peak during training (weights included) and the
# process's maximum RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-8}
PAIRS=${PAIRS:-32}
BATCH=${BATCH:-2}
MAX_LENGTH=${MAX_LENGTH:-512}
RANK=${RANK:-8}
OUT=${OUT:-/tmp/posttrain-bench-dpo}
SCRATCH=${SCRATCH:-.build}
DATA=${DATA:-.deps/data/dpo_en_demo.json}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

[ -f "$DATA" ] || { echo "missing $DATA: run bash scripts/setup.sh" >&2; exit 1; }
mkdir -p "$OUT"
log "building posttrain (release)"
swift build -c release --product posttrain --scratch-path "$SCRATCH" >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/posttrain"

cat > "$OUT/dpo.yaml" <<YAML
model: smollm2-135m-instruct
train:
  - path: $PWD/$DATA
    max_examples: $PAIRS
validation_fraction: 0
peft: lora
rank: $RANK
batch_size: $BATCH
max_length: $MAX_LENGTH
learning_rate: 5e-5
schedule: constant
max_steps: $STEPS
eval_every: 0
save_every: 0
seed: 0
YAML

run() {  # name, extra flags...
  local name=$1; shift
  rm -rf "$OUT/$name"
  log "dpo: $name"
  /usr/bin/time -v "$BIN" dpo --config "$OUT/dpo.yaml" --output "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1 \
    || { cat "$OUT/$name.log" >&2; exit 1; }
}
run precomputed
run ref-in-memory --no-precompute-ref --ref-model smollm2-135m-instruct
run adapters-off --no-precompute-ref

python3 - "$OUT" "$PAIRS" "$BATCH" "$MAX_LENGTH" <<'PY'
import json, os, re, sys
out, pairs, batch, maxlen = sys.argv[1:5]
print(f"DPO sigmoid, LoRA r8 all layers, SmolLM2-135M float32, dpo_en_demo first {pairs} pairs, "
      f"{batch} pairs/step, max length {maxlen}\n")
print("| reference | steps | s/step | steps/s | tokens/s | precompute s | peak MLX GB | max RSS GB | final loss | accuracy |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in ["precomputed", "ref-in-memory", "adapters-off"]:
    steps = [json.loads(l)["values"] for l in open(os.path.join(out, name, "metrics.jsonl"))]
    steps = [v for v in steps if "loss" in v]
    secs = sum(v["step_seconds"] for v in steps)
    toks = sum(v["tokens"] for v in steps)
    peak = max(v["peak_memory_gb"] for v in steps)
    text = open(os.path.join(out, name + ".log"), errors="replace").read()
    pre = sum(float(x) for x in re.findall(r"reference log-probs for \w+ computed in ([\d.]+)s", text))
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    rss = int(m.group(1)) / 1e6 if m else float("nan")
    acc = sum(v.get("reward_accuracy", 0) for v in steps) / len(steps)
    print(f"| {name} | {len(steps)} | {secs/len(steps):.2f} | {len(steps)/secs:.3f} | {toks/secs:.1f} | "
          f"{pre:.1f} | {peak:.2f} | {rss:.2f} | {steps[-1]['loss']:.4f} | {acc:.2f} |")
PY
