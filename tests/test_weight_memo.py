"""Weight transforms run once per weight value: a compiled program reruns a launch with
``pure_outputs`` only when its input arrays are new."""
from __future__ import annotations

import numpy as np

import fconv as fc
import fconv.numpy as fnp
from fconv import lax


def packed_conv():
    """An input, two weight arrays and a jitted implicit-GEMM conv (its weight packing memoized),
    with its executable."""
    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((2, 8, 10, 10)).astype(np.float32))
    w1 = fnp.asarray(rng.standard_normal((8, 8, 3, 3)).astype(np.float32))
    w2 = fnp.asarray(rng.standard_normal((8, 8, 3, 3)).astype(np.float32))
    f = fc.jit(lambda x, w: lax.conv2d(x, w, padding=1, strategy="implicit_gemm"))
    return x, w1, w2, f, f.lower(x, w1).executable


def test_packing_skipped_for_the_same_weights_and_redone_for_new(cpu_device):
    x, w1, w2, f, exe = packed_conv()
    assert exe._memo, "the implicit-GEMM plan should mark its weight packing as memoizable"
    counts = []
    for w in (w1, w1, w2, w2, w1):
        evs: list = []
        y = exe.run([x, w], events=evs)[0]
        counts.append(len(evs))
        want = np.asarray(lax.conv2d(x, w, padding=1, strategy="naive"))
        np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)
    full, skipped = max(counts), min(counts)
    assert counts == [full, skipped, full, skipped, full]
