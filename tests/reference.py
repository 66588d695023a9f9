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
