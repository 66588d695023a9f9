#!/usr/bin/env bash
# One run on the lent NVIDIA machine (see ../shared/gpu/README.md), in one call: device check,
# the tile sweep of the tiled GEMM kernels (SWEEP=1), the conv benchmark against PyTorch/cuDNN
# in the same process (fp32 / tf32 / fp16 modes), then tests on NVIDIA's OpenCL (pytest's summary).
# Call with `source .gpu/env.sh && bash benchmarks/gpu_run.sh`; logs go to $OUT.
# Knobs: BENCH (0 skips), TESTS (0 skips), TEST_TIMEOUT, SWEEP (0 skips), SWEEP_ARGS, SWEEP_TIMEOUT, BENCH_ARGS, BENCH_TIMEOUT.
set -u
export FCONV_CACHE_DIR=${FCONV_CACHE_DIR:-/tmp/fconv-cache} FCONV_DEVICE=${FCONV_DEVICE:-nvidia}
out=${OUT:-/tmp}
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
python3 - <<'PY'
import fconv as fc
from fconv.codegen.tensorcore import mma_kinds
d = fc.default_device()
print("fconv device:", d, d.cl_device.version, d.cl_device.driver_version, "CUs", d.cl_device.max_compute_units)
print("tensor-core kinds:", sorted(mma_kinds(d)))
PY
if [ "${BENCH:-1}" != "0" ]; then
  echo "== conv benchmark, batch 32, fconv vs cuDNN"
  timeout ${BENCH_TIMEOUT:-300} python3 benchmarks/conv.py --device nvidia --batch 32 --peer-device cuda \
    --repeats 5 ${BENCH_ARGS:---modes fp32 tf32 fp16} 2>&1 | tee "$out/bench.md"
  cp -f "$FCONV_CACHE_DIR/autotune.sqlite" "$out/" 2>/dev/null || true
fi
if [ "${TESTS:-x}" != "0" ]; then
  echo "== tests on $FCONV_DEVICE"
  timeout ${TEST_TIMEOUT:-300} python3 -m pytest -q -p no:cacheprovider -m "not slow" --hypothesis-profile=ci \
    ${TESTS:-tests/test_conv_tiled_gemm.py tests/test_conv_lax.py tests/test_matmul.py} \
    2>&1 | tee "$out/tests.log" | tail -${TEST_TAIL:-15}
fi
if [ "${SWEEP:-0}" != "0" ]; then
  echo "== tile sweep"
  timeout ${SWEEP_TIMEOUT:-240} python3 benchmarks/gpu_tiles.py --device nvidia --out "$out/sweep.json" \
    ${SWEEP_ARGS:-} 2>&1 | tee "$out/sweep.md" | tail -${SWEEP_TAIL:-120}
fi
