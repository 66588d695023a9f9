"""float64 NumPy references for convolution and pooling (PyTorch semantics).

Correctness first: every function computes in float64, loops only over the
kernel window (KH*KW iterations of a vectorised einsum), and is checked
against the others in tests (adjointness, transpose == backward-data).

Shapes (NCHW / OIHW as in PyTorch):
  conv2d                   x (N, C, H, W), w (O, C//G, KH, KW), b (O,)      -> (N, O, OH, OW)
  conv2d_backward_data     dy (N, O, OH, OW), w (O, C//G, KH, KW)           -> (N, C, H, W)
  conv2d_backward_weights  x (N, C, H, W), dy (N, O, OH, OW)                -> (O, C//G, KH, KW)
  conv_transpose2d         x (N, Cin, H, W), w (Cin, Cout//G, KH, KW), b (Cout,) -> (N, Cout, Ho, Wo)
  max_pool2d / avg_pool2d  x (N, C, H, W) -> (N, C, OH, OW); *_grad -> (N, C, H, W)

Padding everywhere: int, (ph, pw), ((top, bottom), (left, right)); conv2d
also takes "SAME" / "VALID" (JAX/TF rule, extra at the bottom/right).
A negative pad crops (only the conv_transpose equivalence produces one).
"""
from __future__ import annotations

import math

import numpy as np

Pads = tuple[tuple[int, int], tuple[int, int]]


def pair(v) -> tuple[int, int]:
    """int or pair -> pair of ints."""
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    a, b = v
    return (int(a), int(b))


def norm_padding(padding, sizes=None, window=None, stride=(1, 1), dilation=(1, 1)) -> Pads:
    """Any padding form -> ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return ((0, 0), (0, 0))
        assert padding.upper() == "SAME"
        out = []
        for n, k, s, d in zip(sizes, window, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            out.append((total // 2, total - total // 2))
        return (out[0], out[1])
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return ((p, p), (p, p))
    a, b = padding
    if isinstance(a, (int, np.integer)):
        return ((int(a), int(a)), (int(b), int(b)))
    return ((int(a[0]), int(a[1])), (int(b[0]), int(b[1])))


def pad_or_crop(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of x by pads (negative entries crop)."""
    (t, b), (l, r) = pads
    x = x[..., max(-t, 0): x.shape[-2] - max(-b, 0), max(-l, 0): x.shape[-1] - max(-r, 0)]
    width = [(0, 0)] * (x.ndim - 2) + [(max(t, 0), max(b, 0)), (max(l, 0), max(r, 0))]
    return np.pad(x, width, constant_values=value)


def _out(n: int, p0: int, p1: int, k: int, s: int, d: int) -> int:
    return (n + p0 + p1 - (k - 1) * d - 1) // s + 1


def _conv_setup(x_shape, w_shape, stride, padding, dilation):
    s = pair(stride)
    d = pair(dilation)
    H, W = x_shape[2:]
    KH, KW = w_shape[2:]
    pads = norm_padding(padding, (H, W), (KH, KW), s, d)
    OH = _out(H, *pads[0], KH, s[0], d[0])
    OW = _out(W, *pads[1], KW, s[1], d[1])
    return s, d, pads, OH, OW


def _window(xp: np.ndarray, kh: int, kw: int, s, d, OH: int, OW: int) -> tuple:
    """The index of xp's rows/cols that kernel tap (kh, kw) reads for every output."""
    return (Ellipsis,
            slice(kh * d[0], kh * d[0] + (OH - 1) * s[0] + 1, s[0]),
            slice(kw * d[1], kw * d[1] + (OW - 1) * s[1] + 1, s[1]))


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """y (N, O, OH, OW) = conv of x (N, C, H, W) with w (O, C//groups, KH, KW) (+ b (O,))."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    O, CG, KH, KW = w.shape
    G = groups
    assert CG * G == C and O % G == 0
    s, d, pads, OH, OW = _conv_setup(x.shape, w.shape, stride, padding, dilation)
    xp = pad_or_crop(x, pads).reshape(N, G, CG, H + sum(pads[0]), W + sum(pads[1]))
    wg = w.reshape(G, O // G, CG, KH, KW)
    y = np.zeros((N, G, O // G, OH, OW))
    for kh in range(KH):
        for kw in range(KW):
            xs = xp[_window(xp, kh, kw, s, d, OH, OW)]          # (N, G, CG, OH, OW)
            y += np.einsum("ngchw,goc->ngohw", xs, wg[..., kh, kw])
    y = y.reshape(N, O, OH, OW)
    if b is not None:
        y += np.asarray(b, np.float64).reshape(1, O, 1, 1)
    return y


def conv2d_backward_data(dy, w, x_shape, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """dx (N, C, H, W): the gradient of sum(conv2d(x, w) * dy) w.r.t. x."""
    dy = np.asarray(dy, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x_shape
    O, CG, KH, KW = w.shape
    G = groups
    s, d, pads, OH, OW = _conv_setup(x_shape, w.shape, stride, padding, dilation)
    assert dy.shape == (N, O, OH, OW), (dy.shape, (N, O, OH, OW))
    Hp, Wp = H + sum(pads[0]), W + sum(pads[1])
    dxp = np.zeros((N, G, CG, Hp, Wp))
    dyg = dy.reshape(N, G, O // G, OH, OW)
    wg = w.reshape(G, O // G, CG, KH, KW)
    for kh in range(KH):
        for kw in range(KW):
            dxp[_window(dxp, kh, kw, s, d, OH, OW)] += np.einsum("ngohw,goc->ngchw", dyg,
                                                                 wg[..., kh, kw])
    dxp = dxp.reshape(N, C, Hp, Wp)
    (t, b), (l, r) = pads
    return pad_or_crop(dxp, ((-t, -b), (-l, -r)))


def conv2d_backward_weights(x, dy, w_shape, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """dw (O, C//groups, KH, KW): the gradient of sum(conv2d(x, w) * dy) w.r.t. w."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    N, C, H, W = x.shape
    O, CG, KH, KW = w_shape
    G = groups
    s, d, pads, OH, OW = _conv_setup(x.shape, w_shape, stride, padding, dilation)
    assert dy.shape == (N, O, OH, OW), (dy.shape, (N, O, OH, OW))
    xp = pad_or_crop(x, pads).reshape(N, G, CG, H + sum(pads[0]), W + sum(pads[1]))
    dyg = dy.reshape(N, G, O // G, OH, OW)
    dw = np.zeros((G, O // G, CG, KH, KW))
    for kh in range(KH):
        for kw in range(KW):
            xs = xp[_window(xp, kh, kw, s, d, OH, OW)]
            dw[..., kh, kw] = np.einsum("ngohw,ngchw->goc", dyg, xs)
    return dw.reshape(O, CG, KH, KW)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1,
                     groups=1) -> np.ndarray:
    """PyTorch's conv_transpose2d, written as a direct scatter (independent of conv2d).

    x (N, Cin, H, W), w (Cin, Cout//groups, KH, KW), b (Cout,) ->
    (N, Cout, (H-1)*sh - pt - pb + dh*(KH-1) + oph + 1, ...).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, Cin, H, W = x.shape
    _, OGt, KH, KW = w.shape
    G = groups
    s, d, op = pair(stride), pair(dilation), pair(output_padding)
    (pt, pb), (pl, pr) = norm_padding(padding)
    FH = (H - 1) * s[0] + d[0] * (KH - 1) + 1
    FW = (W - 1) * s[1] + d[1] * (KW - 1) + 1
    full = np.zeros((N, G, OGt, FH + op[0], FW + op[1]))
    xg = x.reshape(N, G, Cin // G, H, W)
    wg = w.reshape(G, Cin // G, OGt, KH, KW)
    for kh in range(KH):
        for kw in range(KW):
            full[..., kh * d[0]: kh * d[0] + (H - 1) * s[0] + 1: s[0],
                 kw * d[1]: kw * d[1] + (W - 1) * s[1] + 1: s[1]] += np.einsum(
                "ngchw,gco->ngohw", xg, wg[..., kh, kw])
    y = full[..., pt: FH + op[0] - pb, pl: FW + op[1] - pr].reshape(N, G * OGt, -1,
                                                                     FW + op[1] - pl - pr)
    if b is not None:
        y = y + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return y


# ---------------------------------------------------------------- pooling
def _pool_setup(x_shape, window, stride, padding):
    k = pair(window)
    s = k if stride is None else pair(stride)
    pads = norm_padding(padding, x_shape[2:], k, s)
    OH = _out(x_shape[2], *pads[0], k[0], s[0], 1)
    OW = _out(x_shape[3], *pads[1], k[1], s[1], 1)
    return k, s, pads, OH, OW


def _pool_windows(xp: np.ndarray, k, s, OH: int, OW: int) -> np.ndarray:
    """(N, C, OH, OW, KH*KW) view of the windows of padded xp."""
    v = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(2, 3))
    v = v[:, :, : (OH - 1) * s[0] + 1: s[0], : (OW - 1) * s[1] + 1: s[1]]
    return v.reshape(*v.shape[:4], k[0] * k[1])


def max_pool2d(x, window, stride=None, padding=0) -> np.ndarray:
    """(N, C, OH, OW) maximum over each window, padding counts as -inf (PyTorch)."""
    x = np.asarray(x, np.float64)
    k, s, pads, OH, OW = _pool_setup(x.shape, window, stride, padding)
    xp = pad_or_crop(x, pads, -np.inf)
    return _pool_windows(xp, k, s, OH, OW).max(axis=-1)


def max_pool2d_grad(x, dy, window, stride=None, padding=0) -> np.ndarray:
    """dx (N, C, H, W): dy routed to the first argmax (row-major) of each window."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    N, C, H, W = x.shape
    k, s, pads, OH, OW = _pool_setup(x.shape, window, stride, padding)
    xp = pad_or_crop(x, pads, -np.inf)
    am = _pool_windows(xp, k, s, OH, OW).argmax(axis=-1)            # (N, C, OH, OW)
    rows = np.arange(OH)[:, None] * s[0] + am // k[1]
    cols = np.arange(OW)[None, :] * s[1] + am % k[1]
    dxp = np.zeros(xp.shape)
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    np.add.at(dxp, (n[..., None, None], c[..., None, None], rows, cols), dy)
    (t, b), (l, r) = pads
    return pad_or_crop(dxp, ((-t, -b), (-l, -r)))


def avg_pool2d(x, window, stride=None, padding=0) -> np.ndarray:
    """(N, C, OH, OW) mean over each window, padded zeros counted (count_include_pad=True)."""
    x = np.asarray(x, np.float64)
    k, s, pads, OH, OW = _pool_setup(x.shape, window, stride, padding)
    xp = pad_or_crop(x, pads, 0.0)
    return _pool_windows(xp, k, s, OH, OW).mean(axis=-1)


def avg_pool2d_grad(dy, x_shape, window, stride=None, padding=0) -> np.ndarray:
    """dx (N, C, H, W) of avg_pool2d: each window spreads dy / (KH*KW) over its cells."""
    dy = np.asarray(dy, np.float64)
    N, C, H, W = x_shape
    k, s, pads, OH, OW = _pool_setup(x_shape, window, stride, padding)
    dxp = np.zeros((N, C, H + sum(pads[0]), W + sum(pads[1])))
    for kh in range(k[0]):
        for kw in range(k[1]):
            dxp[..., kh: kh + (OH - 1) * s[0] + 1: s[0],
                kw: kw + (OW - 1) * s[1] + 1: s[1]] += dy / (k[0] * k[1])
    (t, b), (l, r) = pads
    return pad_or_crop(dxp, ((-t, -b), (-l, -r)))


# ---------------------------------------------------------------- issue 14: peers' conv/pool cases
# PyTorch's pooling (dilation, ceil_mode, return_indices, count_include_pad, divisor_override,
# max_unpool2d) and JAX's conv_general_dilated (input and kernel dilation, negative pads),
# each with its gradient. Written from the documented formulas, independent of fconv.

def pool_out_size(n: int, p0: int, p1: int, k: int, s: int, d: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's pooling output size: floor (or ceil) of (n + p0 + p1 - d*(k-1) - 1) / s, plus 1;
    with ceil_mode the last window must start inside the input or the left padding."""
    num = n + p0 + p1 - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= n + p0:
        out -= 1
    return max(out, 0)


def _pool_geometry(x_shape, window, stride, padding, dilation, ceil_mode):
    k = pair(window)
    s = k if stride is None else pair(stride)
    d = pair(dilation)
    pads = norm_padding(padding, x_shape[-2:], k, s, d)
    out = tuple(pool_out_size(x_shape[-2 + a], *pads[a], k[a], s[a], d[a], ceil_mode) for a in range(2))
    return k, s, d, pads, out


def _taps(n: int, out: int, p0: int, k: int, s: int, d: int):
    """(out, k) input index each tap reads along one axis, and whether it lies in [0, n)."""
    idx = np.arange(out)[:, None] * s - p0 + np.arange(k)[None, :] * d
    return np.clip(idx, 0, max(n - 1, 0)), (idx >= 0) & (idx < n)


def _pool_gather(x, k, s, d, pads, out):
    """(N, C, OH, OW, KH*KW) values of each window, the in-bounds mask, and the flat
    ih*W + iw of each tap."""
    H, W = x.shape[-2:]
    rows, rv = _taps(H, out[0], pads[0][0], k[0], s[0], d[0])
    cols, cv = _taps(W, out[1], pads[1][0], k[1], s[1], d[1])
    v = x[..., rows[:, None, :, None], cols[None, :, None, :]]        # (N, C, OH, OW, KH, KW)
    mask = rv[:, None, :, None] & cv[None, :, None, :]                   # (OH, OW, KH, KW)
    flat = rows[:, None, :, None] * W + cols[None, :, None, :]
    shape = v.shape[:-2] + (k[0] * k[1],)
    return v.reshape(shape), mask.reshape(out + (-1,)), flat.reshape(out + (-1,))


def max_pool2d_torch(x, window, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """PyTorch's max_pool2d on x (N, C, H, W): padding counts as -inf; indices (int64) are the
    ih * W + iw of each window's first maximum (row-major scan), -1 for a window with no cell
    of the input. ``padding`` may also be a pair of pairs or "SAME"/"VALID" (JAX's rule with
    the dilated window)."""
    x = np.asarray(x, np.float64)
    k, s, d, pads, out = _pool_geometry(x.shape, window, stride, padding, dilation, ceil_mode)
    if min(x.shape[:2] + out) == 0:
        y = np.full(x.shape[:2] + out, -np.inf)
        return (y, np.zeros(y.shape, np.int64)) if return_indices else y
    v, mask, flat = _pool_gather(x, k, s, d, pads, out)
    v = np.where(mask, v, -np.inf)
    am = v.argmax(axis=-1)
    y = np.take_along_axis(v, am[..., None], -1)[..., 0]
    if not return_indices:
        return y
    idx = np.take_along_axis(np.broadcast_to(flat, v.shape), am[..., None], -1)[..., 0]
    return y, np.where(np.isneginf(y) & ~mask.any(-1), -1, idx)


def max_pool2d_torch_grad(x, dy, window, stride=None, padding=0, dilation=1, ceil_mode=False):
    """dx of sum(max_pool2d_torch(x) * dy): each dy to its window's first maximum."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    _, idx = max_pool2d_torch(x, window, stride, padding, dilation, ceil_mode, return_indices=True)
    N, C, H, W = x.shape
    dx = np.zeros((N, C, H * W))
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    ok = idx >= 0
    np.add.at(dx, (np.broadcast_to(n[..., None, None], idx.shape)[ok],
                   np.broadcast_to(c[..., None, None], idx.shape)[ok], idx[ok]), dy[ok])
    return dx.reshape(x.shape)


def _avg_divisor(x_shape, k, s, pads, out, count_include_pad, divisor_override):
    """(OH, OW) divisor of each window, PyTorch's rule: divisor_override, else with
    count_include_pad the window clipped to the padded bounds [-p0, n + p1), else the count
    of its cells inside the input."""
    if divisor_override is not None:
        return np.full(out, float(divisor_override))
    sizes = []
    for a in range(2):
        n, (p0, p1) = x_shape[-2 + a], pads[a]
        start = np.arange(out[a]) * s[a] - p0
        end = np.minimum(start + k[a], n + p1)
        sizes.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return np.outer(sizes[0], sizes[1]).astype(np.float64)


def avg_pool2d_torch(x, window, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                     divisor_override=None):
    """PyTorch's avg_pool2d on x (N, C, H, W): each window's sum of input cells over
    :func:`_avg_divisor`. ``padding`` may also be a pair of pairs or "SAME"/"VALID"."""
    x = np.asarray(x, np.float64)
    k, s, d, pads, out = _pool_geometry(x.shape, window, stride, padding, 1, ceil_mode)
    if min(x.shape[:2] + out) == 0:
        return np.zeros(x.shape[:2] + out)
    v, mask, _ = _pool_gather(x, k, s, d, pads, out)
    total = np.where(mask, v, 0.0).sum(-1)
    return total / _avg_divisor(x.shape, k, s, pads, out, count_include_pad, divisor_override)


def avg_pool2d_torch_grad(dy, x_shape, window, stride=None, padding=0, ceil_mode=False,
                          count_include_pad=True, divisor_override=None):
    """dx (N, C, H, W) of sum(avg_pool2d_torch(x) * dy)."""
    dy = np.asarray(dy, np.float64)
    N, C, H, W = x_shape
    k, s, d, pads, out = _pool_geometry(x_shape, window, stride, padding, 1, ceil_mode)
    dx = np.zeros((N, C, H * W))
    if min((N, C) + out) == 0:
        return dx.reshape(x_shape)
    g = dy / _avg_divisor(x_shape, k, s, pads, out, count_include_pad, divisor_override)
    _, mask, flat = _pool_gather(np.zeros((1, 1, H, W)), k, s, d, pads, out)
    for t in range(mask.shape[-1]):
        m = mask[..., t]
        np.add.at(dx, (slice(None), slice(None), flat[..., t][m]), g[..., m])
    return dx.reshape(x_shape)


def max_unpool2d_torch(x, indices, out_hw) -> np.ndarray:
    """PyTorch's max_unpool2d: zeros (N, C, *out_hw) with x's values at their flat indices."""
    x = np.asarray(x, np.float64)
    indices = np.asarray(indices, np.int64)
    N, C = x.shape[:2]
    y = np.zeros((N, C, out_hw[0] * out_hw[1]))
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    ok = (indices >= 0) & (indices < y.shape[-1])
    y[np.broadcast_to(n[..., None, None], x.shape)[ok], np.broadcast_to(c[..., None, None], x.shape)[ok],
      indices[ok]] = x[ok]
    return y.reshape(N, C, *out_hw)


def max_unpool2d_torch_grad(dy, indices) -> np.ndarray:
    """dx of sum(max_unpool2d_torch(x, indices) * dy): dy gathered at the indices."""
    dy = np.asarray(dy, np.float64)
    indices = np.asarray(indices, np.int64)
    flat = dy.reshape(dy.shape[:2] + (-1,))
    return np.take_along_axis(flat, indices.reshape(indices.shape[:2] + (-1,)), -1).reshape(indices.shape)


def jax_padtype_to_pads(in_hw, window_hw, strides, padding: str) -> Pads:
    """JAX's lax.padtype_to_pads for 'SAME' (odd pad at the end), 'SAME_LOWER' (odd pad at the
    start) and 'VALID'; ``window_hw`` is the (dilated) window."""
    p = padding.upper()
    if p == "VALID":
        return ((0, 0), (0, 0))
    out = []
    for n, k, s in zip(in_hw, window_hw, strides):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        out.append((total // 2, total - total // 2) if p == "SAME" else (total - total // 2, total // 2))
    return (out[0], out[1])


def _dilate(x, l) -> np.ndarray:
    """x (..., H, W) with l-1 zeros between neighbours (JAX's lhs_dilation)."""
    l = pair(l)
    H, W = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + ((H - 1) * l[0] + 1 if H else 0, (W - 1) * l[1] + 1 if W else 0))
    out[..., ::l[0], ::l[1]] = x
    return out


def _general_setup(x_shape, w_shape, strides, padding, lhs_dilation, rhs_dilation):
    s, ld, rd = pair(strides), pair(lhs_dilation), pair(rhs_dilation)
    H, W = x_shape[-2:]
    dil_hw = ((H - 1) * ld[0] + 1 if H else 0, (W - 1) * ld[1] + 1 if W else 0)
    keff = tuple((w_shape[2 + a] - 1) * rd[a] + 1 for a in range(2))
    pads = (jax_padtype_to_pads(dil_hw, keff, s, padding) if isinstance(padding, str)
            else norm_padding(padding))
    padded = tuple(dil_hw[a] + sum(pads[a]) for a in range(2))
    out = tuple(max((padded[a] - keff[a]) // s[a] + 1, 0) for a in range(2))
    return s, ld, rd, pads, out


def conv_general_dilated(x, w, strides=1, padding=0, lhs_dilation=1, rhs_dilation=1, groups=1) -> np.ndarray:
    """JAX's conv_general_dilated in NCHW/OIHW (feature_group_count = groups): x dilated by
    lhs_dilation, padded (negative pads crop; strings by JAX's rule with the dilated kernel),
    correlated with w dilated by rhs_dilation. Empty outputs (a window larger than the padded
    input gives size 0, as JAX) and zero-size inputs give zeros."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    s, ld, rd, pads, out = _general_setup(x.shape, w.shape, strides, padding, lhs_dilation, rhs_dilation)
    shape = (x.shape[0], w.shape[0]) + out
    if min(shape) == 0 or x.shape[1] == 0:
        return np.zeros(shape)
    xp = pad_or_crop(_dilate(x, ld), pads)
    return conv2d(xp, w, None, stride=s, padding=0, dilation=rd, groups=groups)


def conv_general_dilated_backward(x, w, dy, strides=1, padding=0, lhs_dilation=1, rhs_dilation=1,
                                  groups=1):
    """(dx, dw) of sum(conv_general_dilated(x, w) * dy), by conv2d_backward_data/weights on the
    dilated, padded input (the padding's adjoint crops, a crop's adjoint pads zeros)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    s, ld, rd, pads, out = _general_setup(x.shape, w.shape, strides, padding, lhs_dilation, rhs_dilation)
    if min((x.shape[0], w.shape[0]) + out) == 0 or x.shape[1] == 0 or x.size == 0:
        return np.zeros(x.shape), np.zeros(w.shape)
    xp = pad_or_crop(_dilate(x, ld), pads)
    dxp = conv2d_backward_data(dy, w, xp.shape, stride=s, padding=0, dilation=rd, groups=groups)
    (t, b), (l, r) = pads
    dx = pad_or_crop(dxp, ((-t, -b), (-l, -r)))[..., ::ld[0], ::ld[1]]
    dw = conv2d_backward_weights(xp, dy, w.shape, stride=s, padding=0, dilation=rd, groups=groups)
    return dx, dw


def transpose_weight_to_oihw(w, groups=1) -> np.ndarray:
    """PyTorch's conv_transpose2d weight (Cin, Cout//G, KH, KW) as the OIHW kernel
    (Cout, Cin//G, KH, KW), spatially flipped, of the equivalent input-dilated convolution."""
    w = np.asarray(w, np.float64)
    Cin, OG, KH, KW = w.shape
    G = groups
    return (w.reshape(G, Cin // G, OG, KH, KW).transpose(0, 2, 1, 3, 4)
            .reshape(G * OG, Cin // G, KH, KW)[..., ::-1, ::-1])


def oihw_to_transpose_weight(k, groups=1) -> np.ndarray:
    """The inverse of :func:`transpose_weight_to_oihw`."""
    k = np.asarray(k, np.float64)[..., ::-1, ::-1]
    O, CG, KH, KW = k.shape
    G = groups
    return k.reshape(G, O // G, CG, KH, KW).transpose(0, 2, 1, 3, 4).reshape(G * CG, O // G, KH, KW)


def conv_transpose2d_as_general(x_shape, w_shape, stride=1, padding=0, output_padding=0, dilation=1):
    """PyTorch's conv_transpose2d as conv_general_dilated arguments: (strides, pads,
    lhs_dilation, rhs_dilation) — an input dilated by the stride, padded by
    dilation*(k-1) - padding (plus output_padding at the end)."""
    d, op = pair(dilation), pair(output_padding)
    pads = norm_padding(padding)
    gp = tuple((d[a] * (w_shape[2 + a] - 1) - pads[a][0], d[a] * (w_shape[2 + a] - 1) - pads[a][1] + op[a])
               for a in range(2))
    return (1, 1), gp, pair(stride), d


def conv_transpose2d_backward(x, w, dy, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """(dx, dw, db) of sum(conv_transpose2d(x, w, b) * dy), via the input-dilated convolution."""
    st, gp, ld, rd = conv_transpose2d_as_general(np.shape(x), np.shape(w), stride, padding, output_padding,
                                                 dilation)
    k = transpose_weight_to_oihw(w, groups)
    dx, dk = conv_general_dilated_backward(x, k, dy, st, gp, ld, rd, groups)
    return dx, oihw_to_transpose_weight(dk, groups), np.asarray(dy, np.float64).sum(axis=(0, 2, 3))
