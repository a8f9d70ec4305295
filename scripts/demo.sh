#!/usr/bin/env bash
# The main job: tune the default model (SmolLM2-135M-Instruct) with LoRA on LLaMA-Factory's
# alpaca demo data for a few minutes, then show its answers to held-out instructions before and
# after. Assumes `make setup` and `swift build -c release` have run (the Makefile does both).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/posttrain
RUN=${DEMO_OUTPUT:-runs/demo}
STEPS=${DEMO_STEPS:-40}
DATA=.deps/data
mkdir -p "$RUN"

# Hold out the last rows of the demo data: they are neither trained on nor validated on.
python3 - "$DATA/alpaca_en_demo.json" "$RUN" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
out = sys.argv[2]
json.dump(rows[:-60], open(f"{out}/train.json", "w"))
json.dump(rows[-60:-5], open(f"{out}/valid.json", "w"))
held = [r for r in rows[-5:]]
json.dump(held, open(f"{out}/heldout.json", "w"), indent=1)
with open(f"{out}/heldout_prompts.txt", "w") as f:
    for r in held:
        f.write((r["instruction"] + ("\n" + r["input"] if r.get("input") else "")).replace("\n", "\\n") + "\n")
PY

prompts=()
while IFS= read -r line; do prompts+=(--prompt "$(printf '%b' "$line")"); done < "$RUN/heldout_prompts.txt"

echo "== Answers of the base model to held-out instructions =="
"$BIN" generate "${prompts[@]}" --max-tokens 96 | tee "$RUN/before.txt"

echo
echo "== LoRA fine-tuning: $STEPS steps on $(python3 -c "import json;print(len(json.load(open('$RUN/train.json'))))") alpaca examples =="
rm -rf "$RUN/sft"
"$BIN" sft --train "$RUN/train.json" --valid "$RUN/valid.json" --output "$RUN/sft" \
  --max-steps "$STEPS" --batch-size 4 --max-length 384 --learning-rate 2e-4 --rank 8 \
  --warmup-steps 4 --eval-every 20 --save-every 20 --eval-on-start --seed 0

echo
echo "== Answers of the tuned model (adapter $RUN/sft/adapter) =="
"$BIN" generate "${prompts[@]}" --adapter "$RUN/sft/adapter" --max-tokens 96 | tee "$RUN/after.txt"

echo
echo "== Expected answers (from the data) =="
python3 -c "
import json
for i, r in enumerate(json.load(open('$RUN/heldout.json'))): print(f'[{i}] ' + r['output'][:300].replace(chr(10), ' '))
"
echo
echo "Report: $RUN/sft/report.html  Metrics: $RUN/sft/metrics.jsonl"
