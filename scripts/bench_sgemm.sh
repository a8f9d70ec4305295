#!/usr/bin/env bash
# float32 sgemm throughput, one markdown table:
#   PostTrain + OpenBLAS with the core type fixed by Engine.configureBLAS (what `posttrain` runs),
#   the same binary with OpenBLAS's own CPU detection (POSTTRAIN_BLAS_CONFIGURED=1 skips the fix),
#   PostTrain built without OpenBLAS (MLX's bundled reference BLAS: POSTTRAIN_NO_OPENBLAS=1),
#   and numpy on the same sizes.
# Usage (from the repository root, after `bash scripts/setup.sh`):
#   bash scripts/bench_sgemm.sh
# Settings by environment: SIZES (512,1024,2048), REPEATS (at least 10 timed runs per size),
# MIN_TIME (and at least 2 seconds of them), REF_SIZES (sizes for the slow reference BLAS,
# 512,1024), REF_REPEATS (3), PYTHON (python3).
# Build output and progress go to stderr; stdout carries only the table and its notes.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-512,1024,2048}"
REPEATS="${REPEATS:-10}"
MIN_TIME="${MIN_TIME:-2}"
REF_SIZES="${REF_SIZES:-512,1024}"
REF_REPEATS="${REF_REPEATS:-3}"
PYTHON="${PYTHON:-python3}"
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

[ -d .deps/mlx ] || [ -n "${MLX_PREFIX:-}" ] || die "MLX is not set up: run bash scripts/setup.sh first"

log "building posttrain-bench (release, OpenBLAS)"
# The main build must link OpenBLAS even if the caller exported the opt-out.
env -u POSTTRAIN_NO_OPENBLAS swift build -c release --product posttrain-bench >&2
BIN="$(env -u POSTTRAIN_NO_OPENBLAS swift build -c release --show-bin-path)/posttrain-bench"
log "building posttrain-bench (release, MLX's reference BLAS) in .build-noblas"
POSTTRAIN_NO_OPENBLAS=1 swift build -c release --product posttrain-bench --scratch-path .build-noblas >&2
REF_BIN="$(POSTTRAIN_NO_OPENBLAS=1 swift build -c release --scratch-path .build-noblas --show-bin-path)/posttrain-bench"

# Every run starts without OPENBLAS_CORETYPE: a value left in the caller's environment would
# otherwise pick the kernels for both OpenBLAS columns and hide the difference being measured.
clean_env=(env -u OPENBLAS_CORETYPE -u POSTTRAIN_BLAS_CONFIGURED)

log "PostTrain + OpenBLAS, core type fixed (sizes $SIZES)"
FIXED="$("${clean_env[@]}" "$BIN" sgemm --sizes "$SIZES" --repeats "$REPEATS" --min-time "$MIN_TIME")"
log "PostTrain + OpenBLAS, OpenBLAS's own detection (sizes $SIZES)"
DEFAULT="$("${clean_env[@]}" POSTTRAIN_BLAS_CONFIGURED=1 "$BIN" sgemm --sizes "$SIZES" --repeats "$REPEATS" --min-time "$MIN_TIME")"
log "PostTrain, reference BLAS (sizes $REF_SIZES; slow)"
REFERENCE="$("${clean_env[@]}" POSTTRAIN_BLAS_CONFIGURED=1 "$REF_BIN" sgemm --sizes "$REF_SIZES" --repeats "$REF_REPEATS" --min-time 0)"

# The two builds must really differ in BLAS, or the comparison means nothing.
grep -q '^blas=openblas' <<<"$FIXED" || die "the main build does not use OpenBLAS: $(grep '^blas=' <<<"$FIXED")"
if grep -q '^blas=openblas' <<<"$REFERENCE"; then
  die "the .build-noblas build still resolves cblas_sgemm to OpenBLAS (delete .build-noblas and retry)"
fi

# numpy: the interpreter's own numpy, else the copy setup.sh installs into .deps/py.
py_env=("${clean_env[@]}")
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
  [ -d .deps/py/numpy ] || die "numpy not found for $PYTHON and not in .deps/py (run bash scripts/setup.sh)"
  py_env+=(PYTHONPATH="$PWD/.deps/py${PYTHONPATH:+:$PYTHONPATH}")
fi
log "numpy (sizes $SIZES)"
NUMPY="$("${py_env[@]}" "$PYTHON" - "$SIZES" "$REPEATS" "$MIN_TIME" <<'PY'
# Same protocol as posttrain-bench: 2 warm-up products, then best and median of at least
# `repeats` timed ones spanning at least `min_time` seconds.
import ctypes, glob, os, statistics, sys, time
import numpy as np

sizes = [int(s) for s in sys.argv[1].split(",")]
repeats = int(sys.argv[2])
min_time = float(sys.argv[3])
blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
print(f"blas={blas.get('name', 'unknown')} {blas.get('version', '')} (numpy {np.__version__})")
core = "unknown"
libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*"))
for lib in libs:
    try:
        dll = ctypes.CDLL(lib)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
            fn = getattr(dll, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                core = fn().decode()
                break
    except OSError:
        pass
print(f"openblas_core={core}")
rng = np.random.default_rng(0)
for n in sizes:
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    for _ in range(2):
        a @ b
    times = []
    began = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - began < min_time:
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    flop = 2.0 * n ** 3
    best, med = min(times), statistics.median(times)
    print(f"sgemm n={n} best={flop / best / 1e9:.2f} median={flop / med / 1e9:.2f} GFLOP/s runs={len(times)} best_ms={best * 1e3:.3f}")
PY
)"

# One cell: "best (median)" for size $2 in the output $1, or "—" when that size was not run.
cell() {
  awk -v n="$2" '
    $1 == "sgemm" && $2 == "n=" n {
      split($3, b, "="); split($4, m, "=")
      printf "%.1f (%.1f)", b[2], m[2]; found = 1
    }
    END { if (!found) printf "—" }' <<<"$1"
}
field() { grep -m1 "^$2=" <<<"$1" | cut -d= -f2-; }

echo "float32 sgemm (n×n @ n×n), GFLOP/s as best (median) over at least $REPEATS timed products and ${MIN_TIME} s per size, after 2 warm-up products ($REF_REPEATS timed for the reference BLAS)"
echo
echo "| size | PostTrain+OpenBLAS (core type fixed) | PostTrain+OpenBLAS (default detection) | PostTrain, reference BLAS | numpy |"
echo "|---:|---:|---:|---:|---:|"
IFS=, read -r -a size_list <<<"$SIZES"
for n in "${size_list[@]}"; do
  echo "| $n | $(cell "$FIXED" "$n") | $(cell "$DEFAULT" "$n") | $(cell "$REFERENCE" "$n") | $(cell "$NUMPY" "$n") |"
done
echo
echo "- core type fixed: OPENBLAS_CORETYPE=$(field "$FIXED" OPENBLAS_CORETYPE), OpenBLAS kernels $(field "$FIXED" openblas_core); $(field "$FIXED" blas)"
echo "- default detection: OpenBLAS kernels $(field "$DEFAULT" openblas_core)"
echo "- reference BLAS: $(field "$REFERENCE" blas)"
echo "- numpy: $(field "$NUMPY" blas), OpenBLAS kernels $(field "$NUMPY" openblas_core)"
echo "- MLX $(field "$FIXED" mlx); CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m), $(nproc 2>/dev/null || echo '?') cores"
