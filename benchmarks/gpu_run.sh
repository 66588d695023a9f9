#!/usr/bin/env bash
# One run on the lent NVIDIA machine (see ../shared/gpu/README.md): device check, the
# device-independent tests on NVIDIA's OpenCL (pytest's summary), then the conv benchmark
# against PyTorch/cuDNN in the same process. Call with `source .gpu/env.sh && bash benchmarks/gpu_run.sh`.
set -u
export FCONV_CACHE_DIR=${FCONV_CACHE_DIR:-/tmp/fconv-cache} FCONV_DEVICE=${FCONV_DEVICE:-nvidia}
out=${OUT:-/tmp}
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 - <<'PY'
import fconv as fc
d = fc.default_device()
print("fconv device:", d, d.cl_device.version, d.cl_device.driver_version)
print("profile:", d.profile)
PY
echo "== tests on $FCONV_DEVICE"
timeout ${TEST_TIMEOUT:-300} python3 -m pytest -q -p no:cacheprovider -m "not slow" --hypothesis-profile=ci \
  ${TESTS:-tests/test_elementwise.py tests/test_shape_ops.py tests/test_reduce.py tests/test_matmul.py tests/test_conv_lax.py tests/test_autodiff.py tests/test_jit_passes.py tests/test_donation.py tests/test_nn.py} \
  2>&1 | tee "$out/tests.log" | tail -${TEST_TAIL:-25}
echo "== conv benchmark, batch 32, fconv float32 vs cuDNN (allow_tf32=False)"
timeout ${BENCH_TIMEOUT:-240} python3 benchmarks/conv.py --device nvidia --batch 32 --peer-device cuda --repeats 5 --no-jax \
  ${BENCH_ARGS:-} 2>&1 | tee "$out/bench_fp32.md"
