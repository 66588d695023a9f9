"""The peers' own test inputs for convolution and pooling, run through fconv (issue 14).

Sources (transcribed as data under ``tests/peer_cases/``, each file naming the commit read):

- ``torch_opinfo.json``: PyTorch's OpInfo sample inputs of ``nn.functional.conv2d``,
  ``conv_transpose2d``, ``max_pool2d``, ``avg_pool2d`` (and ``max_unpool2d``, derived from the
  max_pool2d cases as PyTorch's ``sample_inputs_max_unpool`` does).
- ``jax_lax_test.json``: JAX's ``tests/lax_test.py`` conv tests (testConv,
  testConvWithGeneralPadding, testConvGeneralDilated, testConvTranspose2D/2DT) and
  reduce_window max/add over 2-D windows (testReduceWindow, testReduceWindowShapeDilation).
  Only what fconv has arguments for is kept: NCHW/OIHW, feature groups (no
  batch_group_count), an input dilation only as ``conv_transpose2d``'s stride (so with a
  window stride of 1 and non-negative transposed padding), reduce_window ``max`` as
  ``max_pool2d`` and ``add`` as ``avg_pool2d(divisor_override=1)`` (no ``min``, no base
  dilation, no window over N or C). JAX samples 10 cases of each product per run; here
  each product's kept cases are sampled deterministically, at most ``FCONV_PEER_CAP``
  (default 250) per JAX test (``FCONV_PEER_CAP=0``: all of them).

Each case runs forward (in float64 where the device has it, else float32 with a looser
tolerance) and its gradient ``fc.grad(sum(f(...) * ct))`` for a fixed random cotangent,
against the float64 NumPy references of ``tests/reference.py`` (conv2d and its backward
functions, conv_general_dilated and its backward, the PyTorch pooling references).

Outcomes: a wrong number (values, shape, or indices) fails. fconv refusing a case with a
TypeError/ValueError/NotImplementedError is an *unsupported argument*: an xfail with fconv's
message, counted as a failure in the pass rate. ``test_zz_pass_rate`` prints the rate per
source and op (forward/grad) and writes it as JSON to ``$FCONV_PEER_REPORT`` (default
``<tempdir>/fconv_peer_conv_pool.json``).

The full list is ``@pytest.mark.slow``; a deterministic sample (~3% of the cases) covering
every argument value of each group runs by default.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import fconv as fc
import fconv.numpy as fnp
from fconv import lax

import reference as R

HERE = Path(__file__).resolve().parent / "peer_cases"
TORCH = json.loads((HERE / "torch_opinfo.json").read_text())
JAX = json.loads((HERE / "jax_lax_test.json").read_text())
CAP = int(os.environ.get("FCONV_PEER_CAP", "250"))
DEFAULT_FRACTION = 0.02

UNSUPPORTED = (TypeError, ValueError, NotImplementedError)


def _t(v):
    """JSON lists -> tuples (recursively), the form the peers wrote."""
    return tuple(_t(a) for a in v) if isinstance(v, list) else v


@dataclass
class Case:
    source: str                   # "torch:sample_inputs_conv2d", "jax:testConv", ...
    op: str                       # the fconv function
    name: str
    shapes: dict                  # array name -> shape (float inputs)
    kwargs: dict                  # fconv's keyword arguments (what the case varies)
    call: Callable                # (dict of fconv arrays) -> output (array or (y, idx))
    ref: Callable                 # (dict of float64 arrays) -> y or (y, idx)
    ref_grad: Callable            # (dict of float64 arrays, ct) -> {name: gradient}
    diff: tuple = ()              # names to differentiate
    kind: str = "conv"            # tolerance class: "conv" or "pool"
    prepare: Callable | None = None  # (arrays, rng) -> arrays: extra inputs (indices)
    features: set = field(default_factory=set)

    @property
    def group(self):
        return f"{self.source}/{self.op}"


# ------------------------------------------------------------------ helpers
def _batched_ref(fn):
    """A reference on (N, C, H, W) applied to an unbatched (C, H, W) x as PyTorch does."""
    def run(a, *args, **kw):
        if a["x"].ndim == 3:
            out = fn({**a, "x": a["x"][None]}, *args, **kw)
            return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]
        return fn(a, *args, **kw)
    return run


def _batched_grad(fn):
    def run(a, ct):
        if a["x"].ndim == 3:
            g = fn({**a, "x": a["x"][None]}, ct[None])
            return {k: (v[0] if k == "x" else v) for k, v in g.items()}
        return fn(a, ct)
    return run


def _features(kwargs, shapes, extra=()):
    """What a case exercises: each keyword's value (a pair of pairs by its form and each of
    its side values, so that the sample need not hold every combination), the input rank,
    a bias, zero-size arrays."""
    f = set()
    for k, v in kwargs.items():
        if isinstance(v, tuple) and v and all(isinstance(e, tuple) for e in v):
            f |= {f"{k}=pairs"} | {f"{k}.side={e}" for p in v for e in p}
        else:
            f.add(f"{k}={v!r}")
    f |= {f"ndim={len(shapes['x'])}", f"bias={'b' in shapes}"}
    if any(0 in s for s in shapes.values()):
        f.add("zero-size")
    return f | set(extra)


# ------------------------------------------------------------------ PyTorch OpInfo cases
def _torch_conv2d():
    spec = TORCH["conv2d"]
    out = []
    for i, (xs, ws, bs, kw) in enumerate(spec["cases"]):
        kw = {k: _t(v) for k, v in kw.items()}
        for batched in (True, False):
            shapes = {"x": tuple(xs) if batched else tuple(xs[1:]), "w": tuple(ws)}
            if bs is not None:
                shapes["b"] = tuple(bs)
            p = dict(stride=kw.get("stride", 1), padding=kw.get("padding", 0),
                     dilation=kw.get("dilation", 1), groups=kw.get("groups", 1))

            def ref(a, p=p):
                return R.conv2d(a["x"], a["w"], a.get("b"), **p)

            def ref_grad(a, ct, p=p):
                g = {"x": R.conv2d_backward_data(ct, a["w"], a["x"].shape, **p),
                     "w": R.conv2d_backward_weights(a["x"], ct, a["w"].shape, **p)}
                if "b" in a:
                    g["b"] = ct.sum(axis=(0, 2, 3))
                return g

            out.append(Case("torch:sample_inputs_conv2d", "conv2d", f"{i:02d}-{'b' if batched else 'u'}",
                            shapes, kw, lambda a, kw=kw: lax.conv2d(a["x"], a["w"], a.get("b"), **kw),
                            _batched_ref(ref), _batched_grad(ref_grad), tuple(shapes),
                            features=_features(kw, shapes)))
    return out


def _torch_conv_transpose2d():
    spec = TORCH["conv_transpose2d"]
    out = []
    for i, (xs, ws, bs, kw) in enumerate(spec["cases"]):
        kw = {k: _t(v) for k, v in kw.items()}
        for batched in (True, False):
            shapes = {"x": tuple(xs) if batched else tuple(xs[1:]), "w": tuple(ws)}
            if bs is not None:
                shapes["b"] = tuple(bs)
            p = dict(stride=kw.get("stride", 1), padding=kw.get("padding", 0),
                     output_padding=kw.get("output_padding", 0), dilation=kw.get("dilation", 1),
                     groups=kw.get("groups", 1))

            def ref(a, p=p):
                return R.conv_transpose2d(a["x"], a["w"], a.get("b"), **p)

            def ref_grad(a, ct, p=p):
                dx, dw, db = R.conv_transpose2d_backward(a["x"], a["w"], ct, **p)
                return {"x": dx, "w": dw, **({"b": db} if "b" in a else {})}

            out.append(Case("torch:sample_inputs_conv_transpose2d", "conv_transpose2d",
                            f"{i:02d}-{'b' if batched else 'u'}", shapes, kw,
                            lambda a, kw=kw: lax.conv_transpose2d(a["x"], a["w"], a.get("b"), **kw),
                            _batched_ref(ref), _batched_grad(ref_grad), tuple(shapes),
                            features=_features(kw, shapes)))
    return out


def _max_pool_case(source, name, shape, window, kw, features=()):
    """One max_pool2d case: kw holds stride, padding, dilation, ceil_mode, return_indices."""
    p = {k: v for k, v in kw.items() if k != "return_indices"}
    ri = kw.get("return_indices", False)

    def ref(a):
        return R.max_pool2d_torch(a["x"], window, return_indices=ri, **p)

    def ref_grad(a, ct):
        return {"x": R.max_pool2d_torch_grad(a["x"], ct, window, **p)}

    shapes = {"x": tuple(shape)}
    return Case(source, "max_pool2d", name, shapes, {"window": window, **kw},
                lambda a: lax.max_pool2d(a["x"], window, **kw), _batched_ref(ref), _batched_grad(ref_grad),
                ("x",), kind="pool", features=_features({"window": window, **kw}, shapes, features))


def _avg_pool_case(source, name, shape, window, kw, features=()):
    def ref(a):
        return R.avg_pool2d_torch(a["x"], window, **kw)

    def ref_grad(a, ct):
        return {"x": R.avg_pool2d_torch_grad(ct, a["x"].shape, window, **kw)}

    shapes = {"x": tuple(shape)}
    return Case(source, "avg_pool2d", name, shapes, {"window": window, **kw},
                lambda a: lax.avg_pool2d(a["x"], window, **kw), _batched_ref(ref), _batched_grad(ref_grad),
                ("x",), kind="pool", features=_features({"window": window, **kw}, shapes, features))


def _torch_max_pool_params():
    """(shape, kwargs) of _TestParamsMaxPool2d.gen_input_params, contiguous layout only (the
    channels_last copies of the 4-D shapes are the same numbers; fconv has one layout)."""
    spec = TORCH["max_pool2d"]
    shapes = []
    for s in itertools.product(*spec["shapes"]):
        shapes.append(tuple(s[1:]) if s[0] is None else tuple(s))
    keys = list(spec["kwargs"])
    combos = [dict(zip(keys, map(_t, vals))) for vals in itertools.product(*spec["kwargs"].values())]
    return [(s, kw) for s in shapes for kw in combos]


def _torch_max_pool2d():
    out = []
    for i, (shape, kw) in enumerate(_torch_max_pool_params()):
        kw = dict(kw)
        window = kw.pop("kernel_size")
        out.append(_max_pool_case("torch:sample_inputs_max_pool", f"{i:03d}", shape, window, kw))
    return out


def _torch_avg_pool2d():
    spec = TORCH["avg_pool2d"]
    out = []
    rows = list(spec["cases"]) + [[spec["extra"]["input_shape"], *spec["extra"]["args"]]]
    for i, row in enumerate(rows):
        shape, window, *rest = row
        names = ["stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"]
        kw = dict(zip(names, rest))
        if kw.get("stride") == []:
            kw["stride"] = None          # PyTorch: an empty stride is the kernel size
        if isinstance(kw.get("padding"), list) and len(kw["padding"]) == 1:
            kw["padding"] = kw["padding"][0]
        kw = {k: _t(v) for k, v in kw.items()}
        out.append(_avg_pool_case("torch:sample_inputs_avgpool2d", f"{i:02d}", shape, _t(window), kw))
    return out


def _torch_max_unpool2d():
    out = []
    for i, (shape, kw) in enumerate(_torch_max_pool_params()):
        if len(shape) != 4 or kw["dilation"] != 1 or not kw["return_indices"]:
            continue
        window, stride, padding, ceil = kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"]
        xin_shape = tuple(shape)
        pooled = R.max_pool2d_torch(np.zeros(xin_shape), window, stride, padding, 1, ceil).shape
        ukw = {"stride": stride, "padding": padding, "output_size": xin_shape}

        def prepare(a, rng, window=window, stride=stride, padding=padding, ceil=ceil, xin_shape=xin_shape):
            src = rng.normal(size=xin_shape)
            y, idx = R.max_pool2d_torch(src, window, stride, padding, 1, ceil, return_indices=True)
            return {"x": y, "indices": idx.astype(np.int32)}

        def ref(a, xin_shape=xin_shape):
            return R.max_unpool2d_torch(a["x"], a["indices"], xin_shape[2:])

        def ref_grad(a, ct):
            return {"x": R.max_unpool2d_torch_grad(ct, a["indices"])}

        shapes = {"x": pooled}
        out.append(Case("torch:sample_inputs_max_pool (unpool)", "max_unpool2d", f"{i:03d}", shapes,
                        {"window": window, **ukw, "ceil_mode(pool)": ceil},
                        lambda a, window=window, ukw=ukw: lax.max_unpool2d(a["x"], a["indices"], window, **ukw),
                        ref, ref_grad, ("x",), kind="pool", prepare=prepare,
                        features=_features({"window": window, **ukw, "ceil_mode(pool)": ceil}, shapes)))
    return out


# ------------------------------------------------------------------ JAX lax_test cases
NOT_PORTED: dict[str, dict[str, int]] = {}


def _skip(test, why):
    NOT_PORTED.setdefault(test, {})
    NOT_PORTED[test][why] = NOT_PORTED[test].get(why, 0) + 1


def _jax_conv_case(test, name, xs, ws, strides, padding, lhs_dil, rhs_dil, groups):
    """A conv_general_dilated case (NCHW/OIHW) as the fconv call that expresses it, or None."""
    lhs_dil, rhs_dil = R.pair(lhs_dil), R.pair(rhs_dil)
    shapes = {"x": tuple(xs), "w": tuple(ws)}

    def ref(a):
        return R.conv_general_dilated(a["x"], a["w"], strides, padding, lhs_dil, rhs_dil, groups)

    def ref_grad(a, ct):
        dx, dw = R.conv_general_dilated_backward(a["x"], a["w"], ct, strides, padding, lhs_dil, rhs_dil, groups)
        return {"x": dx, "w": dw}

    if lhs_dil == (1, 1):
        kw = {"stride": strides, "padding": padding, "dilation": rhs_dil, "groups": groups}
        return Case(f"jax:{test}", "conv2d", name, shapes, kw,
                    lambda a: lax.conv2d(a["x"], a["w"], **kw), ref, ref_grad, ("x", "w"),
                    features=_features(kw, shapes))
    # an input dilation is conv_transpose2d's stride: fconv gets the transposed weight
    # (Cin, Cout//G, KH, KW), flipped, and the padding d*(k-1) - pad of the transpose.
    if isinstance(padding, str):
        return _skip(test, "string padding with lhs_dilation (JAX refuses it too)")
    if tuple(strides) != (1, 1):
        return _skip(test, "lhs_dilation with a window stride > 1 (no fconv argument)")
    pads = R.norm_padding(padding)
    tp = tuple((rhs_dil[a] * (ws[2 + a] - 1) - pads[a][0], rhs_dil[a] * (ws[2 + a] - 1) - pads[a][1])
               for a in range(2))
    if min(min(p) for p in tp) < 0:
        return _skip(test, "lhs_dilation with a pad larger than the dilated kernel (negative transposed padding)")
    kw = {"stride": lhs_dil, "padding": tp, "dilation": rhs_dil, "groups": groups}
    return _transposed_case(f"jax:{test}", name, shapes, kw, ref, ref_grad, groups,
                            extra={f"lhs_dilation={lhs_dil!r}"})


def _transposed_case(source, name, shapes, kw, ref, ref_grad, groups, extra=()):
    """fconv's conv_transpose2d given ``wt`` = the transposed-layout form of the OIHW ``w``
    the reference takes (a permutation: gradients map by the same permutation)."""
    wt_shape = R.oihw_to_transpose_weight(np.zeros(shapes["w"]), groups).shape

    def call(a):
        return lax.conv_transpose2d(a["x"], a["wt"], **kw)

    def ref_t(a):
        return ref({"x": a["x"], "w": R.transpose_weight_to_oihw(a["wt"], groups)})

    def grad_t(a, ct):
        g = ref_grad({"x": a["x"], "w": R.transpose_weight_to_oihw(a["wt"], groups)}, ct)
        return {"x": g["x"], "wt": R.oihw_to_transpose_weight(g["w"], groups)}

    fshapes = {"x": shapes["x"], "wt": tuple(wt_shape)}
    return Case(source, "conv_transpose2d", name, fshapes, kw, call, ref_t, grad_t, ("x", "wt"),
                features=_features(kw, fshapes, extra))


def _sampled(test, cases):
    """JAX runs a random sample of each product; keep a deterministic one of at most CAP."""
    if CAP and len(cases) > CAP:
        keep = sorted(random.Random(zlib.crc32(test.encode())).sample(range(len(cases)), CAP))
        NOT_PORTED.setdefault(test, {})[f"beyond the deterministic sample of {CAP}"] = len(cases) - CAP
        cases = [cases[i] for i in keep]
    return cases


def _jax_conv():
    out = []
    t = JAX["testConv"]
    cases = []
    for (b, i, j), s, p in itertools.product(itertools.product(t["bij"], repeat=3), t["strides"], t["padding"]):
        cases.append(_jax_conv_case("testConv", f"{len(cases):03d}", (b, i, 9, 10), (j, i, 4, 5), _t(s), p,
                                    1, 1, 1))
    out += _sampled("testConv", cases)

    t = JAX["testConvWithGeneralPadding"]
    cases = []
    for n, ((b, i, j), s, p, ld, rd) in enumerate(itertools.product(
            itertools.product(t["bij"], repeat=3), t["strides"], t["padding"], t["lhs_dilation"],
            t["rhs_dilation"])):
        c = _jax_conv_case("testConvWithGeneralPadding", f"{n:04d}", (b, i, 9, 10), (j, i, 4, 5), _t(s), _t(p),
                           _t(ld), _t(rd), 1)
        if c is not None:
            cases.append(c)
    out += _sampled("testConvWithGeneralPadding", cases)

    t = JAX["testConvGeneralDilated"]
    cases = []
    n = 0
    for (bgc, fgc), w, (b, i, j) in itertools.product(t["group_counts"], t["w"],
                                                       itertools.product(t["bij"], repeat=3)):
        for dn, s, p, ld, rd in itertools.product(t["dimension_numbers"], t["strides"], t["padding"],
                                                  t["lhs_dilation"], t["rhs_dilation"]):
            n += 1
            if dn != ["NCHW", "OIHW", "NCHW"]:
                _skip("testConvGeneralDilated", "layouts other than NCHW/OIHW/NCHW")
                continue
            if bgc != 1:
                _skip("testConvGeneralDilated", "batch_group_count > 1 (no fconv argument)")
                continue
            c = _jax_conv_case("testConvGeneralDilated", f"{n:04d}", (b * bgc, i * fgc, 9, w),
                               (j * fgc * bgc, i, 4, 5), _t(s), _t(p), _t(ld), _t(rd), fgc)
            if c is not None:
                cases.append(c)
    out += _sampled("testConvGeneralDilated", cases)

    t = JAX["testConvTranspose2D"]
    paddings = [_t(p) for p in itertools.product(itertools.product(t["pad_values"], repeat=2),
                                                 itertools.product(t["pad_values"], repeat=2))] + t["pad_strings"]
    for test, flipped in (("testConvTranspose2D", False), ("testConvTranspose2DT", True)):
        cases = []
        for n, ((b, i, j, k), s, p, rd) in enumerate(itertools.product(
                itertools.product(t["bij"], t["bij"], t["bij"], t["k"]), t["strides"], paddings,
                t["rhs_dilation"])):
            cases.append(_jax_transpose_case(test, f"{n:05d}", b, i, j, k, _t(s), p, _t(rd), flipped))
        out += _sampled(test, cases)
    return out


def _conv_transpose_padding(k, s, padding):
    """JAX's _conv_transpose_padding (jax/_src/lax/convolution.py)."""
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + max(k - s, 0)
        pad_a = k - 1
    else:
        pads = tuple(k - p - 1 for p in padding)
        pad_a, pad_len = pads[0], sum(pads)
    return pad_a, pad_len - pad_a


def _jax_transpose_case(test, name, b, i, j, k, strides, padding, rhs_dil, flipped):
    """lax.conv_transpose(lhs (b,9,10,i) NHWC, rhs HWIO, use_consistent_padding=True):
    conv_general_dilated(lhs, rhs', 1, pads, lhs_dilation=strides, rhs_dilation), in NCHW/OIHW.
    The OIHW kernel is generated directly (random either way); for 2DT it is what JAX's
    flip-and-swap of the (k, k, j, i) rhs gives, the same (j, i, k, k) family."""
    rd = (1, 1) if rhs_dil is None else R.pair(rhs_dil)
    keff = tuple((k - 1) * rd[a] + 1 for a in range(2))
    rep = [padding] * 2 if isinstance(padding, str) else padding
    pads = tuple(_conv_transpose_padding(keff[a], strides[a], rep[a]) for a in range(2))
    xs, ws = (b, i, 9, 10), (j, i, k, k)
    shapes = {"x": xs, "w": ws}

    def ref(a):
        return R.conv_general_dilated(a["x"], a["w"], 1, pads, strides, rd, 1)

    def ref_grad(a, ct):
        dx, dw = R.conv_general_dilated_backward(a["x"], a["w"], ct, 1, pads, strides, rd, 1)
        return {"x": dx, "w": dw}

    # PyTorch form: padding D - pad per side; a negative bottom/right one is output_padding
    tp, op = [], []
    for a in range(2):
        lo, hi = keff[a] - 1 - pads[a][0], keff[a] - 1 - pads[a][1]
        tp.append((lo, max(hi, 0)))
        op.append(max(-hi, 0))
    kw = {"stride": strides, "padding": tuple(tp), "dilation": rd}
    if any(op):
        kw["output_padding"] = tuple(op)
    return _transposed_case(f"jax:{test}", name, shapes, kw, ref, ref_grad, 1,
                            extra={f"jax_padding={padding if isinstance(padding, str) else 'explicit'}",
                                   f"k={k}", f"transpose_kernel={flipped}"})


def _jax_reduce_window():
    out = []
    t = JAX["testReduceWindow"]
    n = 0
    cases = []
    for opname, _init in t["ops"]:
        for ch in t["chain"]:
            for shape, dims, strides, padding, base, wdil in itertools.product(
                    ch["shape"], ch["dims"], ch["strides"], ch["padding"], ch["base_dilation"],
                    ch["window_dilation"]):
                n += 1
                c = _jax_window_case("testReduceWindow", f"{n:03d}", opname, _t(shape), _t(dims), _t(strides),
                                     _t(padding), _t(base), _t(wdil))
                if c is not None:
                    cases.append(c)
    out += cases
    t = JAX["testReduceWindowShapeDilation"]
    seen, generated = set(), 0
    for ch in t["chain"]:
        for shape, dims in itertools.product(ch["shape"], ch["window_dimensions"]):
            generated += 9 if len(shape) == 4 else 16   # its (unused) base x window dilation axes: 3x3, 4x4
            key = (tuple(shape), tuple(dims))
            if key in seen:
                continue
            seen.add(key)
            c = _jax_window_case("testReduceWindowShapeDilation", f"{len(seen):02d}", "add", _t(shape), _t(dims),
                                 (1,) * len(shape), "SAME", (1,) * len(shape), (1,) * len(shape))
            if c is not None:
                out.append(c)
    NOT_PORTED.setdefault("testReduceWindowShapeDilation", {})[
        "repeats (its dilation parameters are not passed to reduce_window)"] = generated - len(seen)
    return out


def _jax_window_case(test, name, op, shape, dims, strides, padding, base, wdil):
    if op == "min":
        return _skip(test, "reduce_window min (fconv has no min pool)")
    if any(v != 1 for v in base):
        return _skip(test, "base_dilation (no fconv argument)")
    if len(shape) == 4:
        lead = (dims[:2], strides[:2], wdil[:2]) + (() if isinstance(padding, str) else (padding[:2],))
        if any(tuple(v) not in ((1, 1), ((0, 0), (0, 0))) for v in lead):
            return _skip(test, "a window, stride, dilation or padding over N or C")
        dims, strides, wdil = dims[2:], strides[2:], wdil[2:]
        if not isinstance(padding, str):
            padding = padding[2:]
        xshape = tuple(shape)
    else:
        xshape = (1, 1) + tuple(shape)        # a 2-D operand is one (H, W) plane
    window = tuple(dims)
    if op == "max":
        kw = {"stride": tuple(strides), "padding": padding, "dilation": tuple(wdil)}
        return _max_pool_case(f"jax:{test}", name, xshape, window, kw, {f"jax_shape={tuple(shape)}"})
    if any(v != 1 for v in wdil):
        return _skip(test, "reduce_window add with window_dilation (avg_pool2d has no dilation)")
    kw = {"stride": tuple(strides), "padding": padding, "divisor_override": 1}
    return _avg_pool_case(f"jax:{test}", name, xshape, window, kw, {f"jax_shape={tuple(shape)}"})


# ------------------------------------------------------------------ the list and its default sample
def all_cases() -> list[Case]:
    return (_torch_conv2d() + _torch_conv_transpose2d() + _torch_max_pool2d() + _torch_avg_pool2d()
            + _torch_max_unpool2d() + _jax_conv() + _jax_reduce_window())


def default_sample(cases: list[Case], fraction: float = DEFAULT_FRACTION) -> set[str]:
    """Per group (source/op): cases that together cover every argument value (greedy, in a
    seeded order), topped up to ``fraction`` of the group."""
    chosen = set()
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.group, []).append(c)
    for g, cs in groups.items():
        order = list(range(len(cs)))
        random.Random(zlib.crc32(g.encode())).shuffle(order)
        rank = {k: r for r, k in enumerate(order)}
        covered, picked = set(), []
        while True:
            best = max(order, key=lambda k: (len(cs[k].features - covered), -rank[k]))
            if not cs[best].features - covered:
                break
            covered |= cs[best].features
            picked.append(best)
        for k in order:
            if len(picked) >= max(1, round(fraction * len(cs))):
                break
            if k not in picked:
                picked.append(k)
        chosen |= {f"{g}/{cs[k].name}" for k in picked}
    return chosen


CASES = all_cases()
DEFAULT = default_sample(CASES)


def _id(c: Case) -> str:
    peer, test = c.source.split(":")
    return f"{peer}-{test.split(' ')[0].replace('sample_inputs_', '')}-{c.op}-{c.name}"


PARAMS = [pytest.param(c, id=_id(c), marks=() if f"{c.group}/{c.name}" in DEFAULT else (pytest.mark.slow,))
          for c in CASES]

# ------------------------------------------------------------------ running one case
RESULTS: dict[str, dict[str, dict[str, int]]] = {}
WRONG: list[str] = []
ERRORS: list[str] = []


def _record(c: Case, phase: str, outcome: str):
    d = RESULTS.setdefault(c.group, {}).setdefault(phase, {})
    d[outcome] = d.get(outcome, 0) + 1


def _dtype():
    return np.float64 if fc.default_device().has_fp64 else np.float32


def _tol(dtype, kind):
    if np.dtype(dtype) == np.float64:
        return (1e-10, 1e-10) if kind == "conv" else (1e-12, 1e-12)
    return (2e-4, 2e-4) if kind == "conv" else (2e-6, 2e-6)


def _max_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.size == 0:
        return 0.0
    both_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
    return float(np.where(both_inf, 0.0, np.abs(got - want)).max())


def _compare(c: Case, what, got, want, dtype):
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return f"{what}: shape {got.shape}, want {want.shape}"
    if np.issubdtype(want.dtype, np.integer):
        bad = int((got.astype(np.int64) != want).sum())
        return f"{what}: {bad} of {want.size} indices differ" if bad else None
    rtol, atol = _tol(dtype, c.kind)
    finite = np.abs(want[np.isfinite(want)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    err = _max_err(got, want)
    ok = np.isclose(got.astype(np.float64), want, rtol=rtol, atol=atol * scale, equal_nan=True) | (
        np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want)))
    if not ok.all():
        return f"{what}: max |error| {err:.3g} (scale {scale:.3g}, {int((~ok).sum())} of {want.size} off)"
    return None


def _describe(c: Case) -> str:
    return f"{c.source} {c.op} {c.name}: shapes {c.shapes}, {c.kwargs}"


@pytest.mark.parametrize("case", PARAMS)
def test_peer_case(case: Case):
    dtype = _dtype()
    rng = np.random.default_rng(zlib.crc32(_id(case).encode()))
    a64 = {k: rng.normal(size=s) for k, s in case.shapes.items()}
    if case.prepare is not None:
        a64 = case.prepare(a64, rng)
    a64 = {k: (v.astype(dtype).astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v)
           for k, v in a64.items()}
    arrays = {k: fnp.asarray(v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v)
              for k, v in a64.items()}
    want = case.ref(a64)
    try:
        got = case.call(arrays)
        got_np = tuple(np.asarray(g) for g in got) if isinstance(got, tuple) else np.asarray(got)
    except UNSUPPORTED as e:
        _record(case, "forward", "unsupported")
        _record(case, "grad", "unsupported")
        pytest.xfail(f"unsupported argument: {type(e).__name__}: {e}")
    except Exception as e:            # a crash (kernel build, runtime): neither refused nor a number
        _record(case, "forward", "error")
        _record(case, "grad", "not run")
        ERRORS.append(f"forward {_describe(case)}: {type(e).__name__}: {str(e)[:200]}")
        raise
    problems = []
    if isinstance(want, tuple):
        if not isinstance(got_np, tuple) or len(got_np) != len(want):
            problems.append(f"output: got {type(got).__name__}, want a pair (y, indices)")
        else:
            problems += [p for p in (_compare(case, "y", got_np[0], want[0], dtype),
                                     _compare(case, "indices", got_np[1], want[1], dtype)) if p]
    else:
        problems += [p for p in (_compare(case, "y", got_np, want, dtype),) if p]
    _record(case, "forward", "wrong" if problems else "pass")
    if problems:
        WRONG.append(f"forward {_describe(case)}: {'; '.join(problems)}")
        _record(case, "grad", "not run")
        pytest.fail(f"wrong number, {_describe(case)}: " + "; ".join(problems))

    y_shape = (want[0] if isinstance(want, tuple) else want).shape
    ct = rng.normal(size=y_shape).astype(dtype).astype(np.float64)
    ct_fc = fnp.asarray(ct.astype(dtype))
    names = [n for n in case.diff if n in arrays]
    others = {k: v for k, v in arrays.items() if k not in names}

    def loss(*vals):
        out = case.call({**others, **dict(zip(names, vals))})
        y = out[0] if isinstance(out, tuple) else out
        return fnp.sum(y * ct_fc)

    want_g = case.ref_grad(a64, ct)
    try:
        grads = fc.grad(loss, argnums=tuple(range(len(names))))(*[arrays[n] for n in names])
        grads = [np.asarray(g) for g in grads]
    except UNSUPPORTED as e:
        _record(case, "grad", "unsupported")
        pytest.xfail(f"unsupported argument (gradient): {type(e).__name__}: {e}")
    except Exception as e:
        _record(case, "grad", "error")
        ERRORS.append(f"grad {_describe(case)}: {type(e).__name__}: {str(e)[:200]}")
        raise
    problems = [p for p in (_compare(case, f"d{n}", g, want_g[n], dtype) for n, g in zip(names, grads)) if p]
    _record(case, "grad", "wrong" if problems else "pass")
    if problems:
        WRONG.append(f"grad {_describe(case)}: {'; '.join(problems)}")
        pytest.fail(f"wrong gradient, {_describe(case)}: " + "; ".join(problems))


def test_case_list_counts():
    """The transcription: how many cases each source gives (a changed count is a changed port)."""
    groups = {}
    for c in CASES:
        groups[c.group] = groups.get(c.group, 0) + 1
    assert groups["torch:sample_inputs_conv2d/conv2d"] == 30
    assert groups["torch:sample_inputs_conv_transpose2d/conv_transpose2d"] == 12
    assert groups["torch:sample_inputs_max_pool/max_pool2d"] == 6 * 144
    assert groups["torch:sample_inputs_avgpool2d/avg_pool2d"] == 7
    assert groups["torch:sample_inputs_max_pool (unpool)/max_unpool2d"] == 4 * 36
    assert groups["jax:testConv/conv2d"] == 72
    covered = set().union(*(c.features for c in CASES if f"{c.group}/{c.name}" in DEFAULT))
    assert covered == set().union(*(c.features for c in CASES)), "the default sample misses an argument value"


_T0 = time.perf_counter()


def test_zz_pass_rate(request):
    """Print (and write as JSON) the pass rate of the cases run so far in this session."""
    rows = {}
    for g, phases in sorted(RESULTS.items()):
        rows[g] = {}
        for phase, d in phases.items():
            ran = sum(v for k, v in d.items() if k != "not run")
            rows[g][phase] = {**d, "rate": round(d.get("pass", 0) / ran, 4) if ran else None}
    report = {"results": rows, "wrong": WRONG, "errors": ERRORS, "not_ported": NOT_PORTED,
              "seconds": round(time.perf_counter() - _T0, 1),
              "dtype": np.dtype(_dtype()).name}
    path = Path(os.environ.get("FCONV_PEER_REPORT", Path(tempfile.gettempdir()) / "fconv_peer_conv_pool.json"))
    path.write_text(json.dumps(report, indent=1))
    lines = [f"peer conv/pool pass rate ({report['dtype']}, {report['seconds']} s; {path}):"]
    for g, phases in rows.items():
        parts = []
        for ph, d in phases.items():
            counts = ", ".join(f"{k} {v}" for k, v in d.items() if k != "rate")
            parts.append(f"{ph} {d['rate'] if d['rate'] is not None else '-'} ({counts})")
        lines.append(f"  {g}: " + ", ".join(parts))
    for w in WRONG:
        lines.append("  WRONG " + w)
    for w in ERRORS[:20]:
        lines.append("  ERROR " + w)
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        print(line)
        if tr is not None:
            tr.write_line(line)
