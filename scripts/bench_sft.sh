#!/usr/bin/env bash
# LoRA SFT throughput and memory: PostTrain beside mlx_lm.lora (Python, same MLX CPU engine) on
# the same model weights, data, rank, batch size, sequence length and prompt masking.
#
#   bash scripts/bench_sft.sh            # 10 steps each (ITERS=N to change; MLX_LM=0 skips mlx-lm)
#
# mlx-lm's side is the shared baseline (../shared/baseline/run_baseline.sh: GGUF → HF float32
# conversion with a logit check, alpaca → chat JSONL rows 0..899, mlx_lm.lora with a JSON
# logging callback). Both count tokens the way mlx-lm does — loss tokens only — over wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-10}
OUT=${OUT:-/tmp/posttrain-bench-sft}
BASE=${BASELINE_DIR:-../shared/baseline}
mkdir -p "$OUT"
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}

swift build -c release --product posttrain >&2

# The same rows mlx-lm trains on: alpaca_en_demo rows 0..899 as user/assistant chats.
python3 - .deps/data/alpaca_en_demo.json "$OUT/train.jsonl" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))[:900]
with open(sys.argv[2], "w") as f:
    for r in rows:
        user = "\n".join(x for x in (r["instruction"], r.get("input", "")) if x)
        f.write(json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}]}, ensure_ascii=False) + "\n")
PY

cat > "$OUT/sft.yaml" <<YAML
model: smollm2-135m-instruct
train: $OUT/train.jsonl
validation_fraction: 0
output: $OUT/run
peft: lora
rank: 8
alpha: 160          # mlx-lm's scale 20 = alpha / rank
dropout: 0
batch_size: 4
max_length: 512
loss: completion    # mlx-lm --mask-prompt
optimizer: adam
learning_rate: 1e-4
schedule: constant
max_steps: $ITERS
eval_every: 0
save_every: 0
seed: 0
YAML
rm -rf "$OUT/run"
/usr/bin/time -v .build/release/posttrain sft --config "$OUT/sft.yaml" >"$OUT/posttrain.log" 2>&1 || { cat "$OUT/posttrain.log"; exit 1; }

if [ "${MLX_LM:-1}" = 1 ]; then
  ITERS=$ITERS REPORT=$ITERS VAL_BATCHES=1 SLOW_ITERS=0 MODES=blas OUT="$OUT/mlx-lm" \
    GGUF="$PWD/.deps/models/SmolLM2-135M-Instruct.Q4_1.gguf" ALPACA="$PWD/.deps/data/alpaca_en_demo.json" \
    bash "$BASE/run_baseline.sh" >"$OUT/mlx-lm.log" 2>&1 || echo "mlx-lm baseline failed: see $OUT/mlx-lm.log" >&2
fi

python3 - "$OUT" <<'PY'
import glob, json, os, re, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "run", "metrics.jsonl"))]
steps = [r["values"] for r in rows if "loss" in r["values"]]
secs = sum(v["step_seconds"] for v in steps)
loss_tok = sum(v["loss_units"] for v in steps)
all_tok = sum(v["tokens"] for v in steps)
peak = max(v["peak_memory_gb"] for v in steps)
log = open(os.path.join(out, "posttrain.log")).read()
m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
rss = int(m.group(1)) / 1e6 if m else float("nan")
print(f"| run | steps | s/step | loss tok/s | all tok/s | peak MLX GB | max RSS GB |")
print(f"|---|---|---|---|---|---|---|")
print(f"| PostTrain | {len(steps)} | {secs/len(steps):.2f} | {loss_tok/secs:.1f} | {all_tok/secs:.1f} | {peak:.2f} | {rss:.2f} |")
ours = loss_tok / secs
base = None
lf = os.path.join(out, "mlx-lm", "blas-lora.log")
if os.path.exists(lf):
    txt = open(lf, errors="replace").read()
    M = [json.loads(l[7:]) for l in txt.splitlines() if l.startswith("METRIC ") and '"train"' in l]
    if M:
        prev, t, s = 0, 0, 0.0
        for x in M:
            d = x["trained_tokens"] - prev; prev = x["trained_tokens"]; t += d; s += d / x["tokens_per_second"]
        m2 = re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt)
        brss = int(m2.group(1)) / 1e6 if m2 else float("nan")
        it = int(M[-1]["iteration"])
        print(f"| mlx_lm.lora | {it} | {s/it:.2f} | {t/s:.1f} | — | {max(x['peak_memory'] for x in M):.2f} | {brss:.2f} |")
        base = t / s
if base:
    print(f"\nPostTrain / mlx-lm loss tokens/s: {ours/base:.2f}×")
PY
