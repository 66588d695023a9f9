"""``fconv.numpy`` indexing beyond slices: ``take``, integer-array and boolean-mask indexing,
``x.at[...].set/add/get`` (JAX's functional updates), ``split`` and ``repeat``.

Integer indices gather on the device (:mod:`fconv.ops.indexing`; the gradient is a
scatter-add). Negative indices count from the end; host indices (lists, NumPy arrays) out of
range raise ``IndexError``; device indices out of range are clamped by gathers and dropped
by ``.at[]`` updates (JAX's rules: they cannot be checked without a copy to the host).

A boolean mask gives a result whose shape depends on the mask's values, so it needs a
concrete mask: a NumPy array, or an eager ``fc.Array`` (copied to the host to find its
``True`` positions). Under ``jit``/``grad`` use ``fnp.where(mask, x, 0)`` (a static shape),
``.at[mask]`` style updates as ``fnp.where(mask, new, x)``.

Example::

    >>> x = fnp.arange(12.0).reshape(3, 4)
    >>> x[fnp.asarray([2, 0])].shape, fnp.take(x, [1, 1, 3], axis=1).shape
    ((2, 4), (3, 3))
    >>> y = x.at[0, 1:3].set(-1.0)        # a new array; x is unchanged
    >>> [p.shape for p in fnp.split(x, [1, 3], axis=1)]
    [(3, 1), (3, 2), (3, 1)]
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..core.trace import Tracer
from ..ops import elementwise as ew
from ..ops import shape as shape_ops
from ..ops.indexing import gather, scatter
from .base import _arr, _is_array, _is_scalar, asarray, astype, full, where
from .shape import broadcast_to, reshape

__all__ = ["take", "split", "array_split", "repeat", "advanced_getitem", "is_advanced", "AtIndexer"]


def _axis(op: str, axis, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for an array of {ndim} dimensions")
    return int(axis) % ndim


def _is_index_array(i) -> bool:
    return isinstance(i, (list, np.ndarray)) or _is_array(i)


def is_advanced(idx) -> bool:
    """Whether an index (a tuple's entries) holds an integer or boolean array."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(_is_index_array(i) for i in items)


def _indices(op: str, idx, n: int):
    """int32 indices on the device: host ones (list, NumPy) checked against ``n`` first."""
    if _is_array(idx):
        if idx.dtype == dtypes.bool_:
            raise TypeError(f"{op}: boolean indices need a concrete mask (see fconv.numpy.indexing)")
        if idx.dtype != dtypes.int32:
            raise TypeError(f"{op}: indices must be integers, got {idx.dtype}{tuple(idx.shape)}")
        return idx
    host = np.asarray(idx)
    if host.size == 0:
        host = host.astype(np.int32)
    if host.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got {host.dtype} ({idx!r:.60})")
    if host.size and (host.min() < -n or host.max() >= n):
        bad = host[(host < -n) | (host >= n)].flat[0]
        raise IndexError(f"{op}: index {bad} is out of bounds for an axis of size {n}")
    return asarray(host.astype(np.int32))


def take(a, indices, axis=None, mode=None):
    """Elements of ``a`` at ``indices`` along ``axis`` (NumPy's / JAX's ``take``).

    Shapes: ``a (P..., n, Q...)``, ``indices`` of shape ``I`` -> ``(P..., I..., Q...)``;
    ``axis=None`` indexes the flattened array. ``indices``: ints, a list, a NumPy array or an
    int32 fconv array (traced too). Negative indices count from the end; host indices out of
    range raise ``IndexError``, device ones are clamped (``mode="clip"``, JAX's gather).
    Differentiable in ``a`` (the gradient scatter-adds, so repeated indices accumulate).

    Example: ``fnp.take(fnp.asarray([10., 20., 30.]), [2, 0, 2])`` -> ``[30., 10., 30.]``.
    """
    a = _arr(a, "take")
    if mode not in (None, "clip", "raise"):
        raise ValueError(f"take: mode={mode!r} is not supported (None, 'clip' or 'raise')")
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    ax = _axis("take", axis, a.ndim)
    if _is_scalar(indices) and not isinstance(indices, (bool, np.bool_)):
        idx = _indices("take", np.asarray(indices), a.shape[ax])
        return reshape(gather(a, reshape(idx, (1,)), ax), a.shape[:ax] + a.shape[ax + 1:])
    return gather(a, _indices("take", indices, a.shape[ax]), ax)


def _mask_positions(op: str, mask, shape: tuple) -> np.ndarray:
    """The flat positions where a concrete boolean mask over ``shape`` (a prefix) holds."""
    if isinstance(mask, Tracer):
        raise TypeError(f"{op}: boolean-mask indexing of a traced array has a data-dependent shape "
                        f"(mask {mask.aval.str_short()}); use fnp.where(mask, x, 0) or an integer "
                        "index array of a static size")
    m = np.asarray(mask)  # an eager fc.Array mask is copied to the host
    if tuple(m.shape) != tuple(shape[:m.ndim]):
        raise IndexError(f"{op}: boolean index of shape {m.shape} does not match the indexed "
                         f"array's shape {shape}")
    return np.flatnonzero(m)


def _normalise(op: str, x, idx) -> tuple:
    """``idx`` as a tuple without Ellipsis, one entry per axis of ``x`` or None (new axis);
    a boolean array entry is replaced by an int array over the flattened axes it covers, with
    ``x`` reshaped accordingly. Returns (x, entries)."""
    items = list(idx) if isinstance(idx, tuple) else [idx]
    if sum(i is Ellipsis for i in items) > 1:
        raise IndexError("an index can only have a single ellipsis")
    for pos, i in enumerate(items):
        is_bool = (isinstance(i, np.ndarray) and i.dtype == np.bool_) or (
            _is_array(i) and i.dtype == dtypes.bool_) or (
            isinstance(i, list) and len(i) and all(isinstance(e, (bool, np.bool_)) for e in i))
        if is_bool:
            d = np.ndim(i) if not _is_array(i) else i.ndim
            if d == 0:
                raise IndexError(f"{op}: a 0-d boolean index is not supported")
            before = sum(1 for j in items[:pos] if j is not None and j is not Ellipsis)
            if any(j is Ellipsis for j in items[:pos]):
                raise IndexError(f"{op}: a boolean mask after an Ellipsis is not supported")
            pos_flat = _mask_positions(op, i if _is_array(i) else np.asarray(i), x.shape[before:])
            x = reshape(x, x.shape[:before] + (-1,) + x.shape[before + d:]) if d != 1 else x
            items[pos] = pos_flat.astype(np.int32)
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if n_real > x.ndim:
        raise IndexError(f"too many indices ({n_real}) for an array of shape {tuple(x.shape)}")
    if any(i is Ellipsis for i in items):
        e = [i is Ellipsis for i in items].index(True)
        items = items[:e] + [slice(None)] * (x.ndim - n_real) + items[e + 1:]
    else:
        items = items + [slice(None)] * (x.ndim - n_real)
    return x, items


def advanced_getitem(x, idx):
    """``x[idx]`` where ``idx`` holds integer arrays or a boolean mask (with ints, slices,
    None and Ellipsis beside them). One integer array gathers along its axis; several are
    broadcast together and gather over the axes they index, as NumPy: the result's indexed
    dimensions stand where the arrays were when they are adjacent, else first.
    """
    from .shape import getitem
    x, items = _normalise("__getitem__", x, idx)
    arr_pos = [p for p, i in enumerate(items) if _is_index_array(i)]
    int_pos = [p for p, i in enumerate(items) if isinstance(i, (int, np.integer))
               and not isinstance(i, (bool, np.bool_))]
    adv = sorted(arr_pos + int_pos)
    contiguous = adv == list(range(adv[0], adv[-1] + 1))
    # first the basic part with every advanced entry a full slice: then y has one axis per
    # entry (None entries are new axes), so entry p indexes axis p of y
    basic = tuple(slice(None) if p in adv else i for p, i in enumerate(items))
    y = getitem(x, basic)
    ypos = {p: p for p in adv}
    sizes = [y.shape[ypos[p]] for p in adv]
    idxs = []
    for p in adv:
        i = items[p]
        n = y.shape[ypos[p]]
        if isinstance(i, (int, np.integer)):
            i = np.asarray(i, np.int32)
        idxs.append(_indices("__getitem__", i, n))
    bshape = tuple(np.broadcast_shapes(*[tuple(i.shape) for i in idxs]))
    # merge the advanced axes of y (moved to the front) into one, and their indices into one
    front = moveaxis_many(y, [ypos[p] for p in adv])
    rest = front.shape[len(adv):]
    flat = reshape(front, (int(np.prod(sizes)),) + tuple(rest))
    lin = None
    for i, n in zip(idxs, sizes):
        i = broadcast_to(_wrap(i, n), bshape)
        lin = i if lin is None else ew.add_p.bind(ew.mul_p.bind(lin, np.int32(n)), i)
    out = gather(flat, lin, 0)  # bshape + rest
    if contiguous:
        start = ypos[adv[0]]
        out = moveaxis_many(out, list(range(len(bshape))), start)
    return out


def _wrap(i, n: int):
    """Negative indices made non-negative (what is still out of range stays so)."""
    return ew.select(ew.less(i, 0), ew.add(i, np.int32(n)), i)


def moveaxis_many(x, source: list, start: int = 0):
    """``x`` with the axes ``source`` (in that order) moved to positions start, start+1, ..."""
    others = [d for d in range(x.ndim) if d not in source]
    perm = others[:start] + list(source) + others[start:]
    if source == list(range(len(source))) and start == 0:
        return x
    from .shape import transpose
    return transpose(x, perm)


# ------------------------------------------------------------------ .at[...]

class _AtRef:
    """``x.at[idx]``: ``.get()``, ``.set(v)``, ``.add(v)``, ``.multiply(v)`` -> new arrays."""

    def __init__(self, x, idx):
        self.x, self.idx = x, idx

    def get(self):
        """``x[idx]``."""
        return self.x[self.idx]

    def set(self, values):
        """``x`` with ``x[idx]`` replaced by ``values`` (broadcast); repeated indices: one wins."""
        return _update(self.x, self.idx, values, "set")

    def add(self, values):
        """``x`` with ``values`` added at ``idx``; repeated indices accumulate (``np.add.at``)."""
        return _update(self.x, self.idx, values, "add")


class AtIndexer:
    """``x.at``: JAX's functional index updates (``x.at[0, 1:].set(0.0)``, ``x.at[idx].add(v)``).

    fconv arrays are immutable; these return new arrays and are differentiable in ``x`` and
    the values. Indices: ints, slices, None, Ellipsis, one integer array (list, NumPy, int32
    fconv array) or a concrete boolean mask.
    """

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _AtRef(self.x, idx)


def _values(v, dtype, shape):
    v = asarray(v) if not _is_array(v) else v
    v = astype(v, dtype) if v.dtype != dtype else v
    try:
        return broadcast_to(v, shape)
    except ValueError:
        raise ValueError(f".at[]: values of shape {tuple(v.shape)} do not broadcast to the indexed "
                         f"shape {tuple(shape)}") from None


def _update(x, idx, values, mode: str):
    x = _arr(x, ".at[]")
    shape = tuple(x.shape)
    if mode == "add" and x.dtype == dtypes.bool_:
        raise TypeError(f".at[].add: bool arrays cannot be added to (shape {shape}); use .set, "
                        "or astype first")
    if not is_advanced(idx):
        return _update_basic(x, idx, values, mode)
    xr, items = _normalise(".at[]", x, idx)
    arr_pos = [p for p, i in enumerate(items) if _is_index_array(i)]
    others = [i for p, i in enumerate(items) if p not in arr_pos]
    if len(arr_pos) != 1 or any(i is None for i in items) or any(not (isinstance(i, slice) and i == slice(None))
                                                 for i in others):
        raise TypeError(f".at[{idx!r:.80}]: updates with an index array take one integer array "
                        "(or mask) with full slices (:) elsewhere, e.g. x.at[idx] or x.at[:, idx]")
    ax = arr_pos[0]
    ind = _indices(".at[]", items[ax], xr.shape[ax])
    upd_shape = tuple(xr.shape[:ax]) + tuple(ind.shape) + tuple(xr.shape[ax + 1:])
    upd = _values(values, x.dtype, upd_shape)
    out = scatter(xr, ind, upd, ax, mode)
    return reshape(out, shape)


def _update_basic(x, idx, values, mode: str):
    """Updates at ints/slices/None/Ellipsis: the values padded into place (the transpose of
    the slice) and selected or added — no scatter, differentiable."""
    # the same index of a template of flat positions tells the indexed shape (what values
    # broadcast to) and where each updated element lands (NumPy raises IndexError if bad)
    pos = np.asarray(np.arange(x.size, dtype=np.int64).reshape(x.shape)[idx])
    upd = _values(values, x.dtype, pos.shape)
    pos = pos.reshape(-1)
    if pos.size == 0:
        return x
    flat_upd = reshape(upd, (-1,))
    if len(np.unique(pos)) != pos.size:  # a repeated position (a negative-step quirk): scatter
        ind = asarray(pos.astype(np.int32))
        return reshape(scatter(reshape(x, (-1,)), ind, flat_upd, 0, mode), x.shape)
    order = np.argsort(pos, kind="stable")
    if np.all(order == np.arange(pos.size)) and _is_strided_box(pos, x.shape):
        placed, mask = _pad_into(x, pos, flat_upd)
    else:
        ind = asarray(pos.astype(np.int32))
        return reshape(scatter(reshape(x, (-1,)), ind, flat_upd, 0, mode), x.shape)
    if mode == "add":
        return ew.add_p.bind(x, placed)
    return where(mask, placed, x)


def _box(pos: np.ndarray, shape: tuple):
    """(start, count, step) per axis when the sorted flat positions ``pos`` are a strided box."""
    coords = np.unravel_index(pos, shape)
    box = []
    for c in coords:
        u = np.unique(c)
        step = int(u[1] - u[0]) if u.size > 1 else 1
        if step < 1 or not np.array_equal(u, u[0] + step * np.arange(u.size)):
            return None
        box.append((int(u[0]), int(u.size), step))
    if int(np.prod([b[1] for b in box])) != pos.size:
        return None
    return box


def _is_strided_box(pos, shape) -> bool:
    return _box(pos, shape) is not None


def _pad_into(x, pos, flat_upd):
    """``flat_upd`` placed at ``pos`` (a strided box, in order) in an array like ``x`` of zeros,
    and the bool mask of those positions."""
    box = _box(pos, x.shape)
    inner = tuple(b[1] for b in box)
    config = tuple((s, d - (s + (n - 1) * st + 1), st - 1) for (s, n, st), d in zip(box, x.shape))
    upd = reshape(flat_upd, inner)
    zero = np.asarray(0, x.dtype)[()]
    placed = shape_ops.pad_p.bind(upd, zero, config=config)
    mask = shape_ops.pad_p.bind(full(inner, True, dtypes.bool_), np.False_, config=config)
    return placed, mask


# ------------------------------------------------------------------ split, repeat

def split(ary, indices_or_sections, axis: int = 0) -> list:
    """A list of sub-arrays of ``ary`` along ``axis`` (NumPy's ``split``): an int ``k`` gives
    ``k`` equal parts (a ValueError unless they divide the axis), a list of indices the parts
    between them. Each part is a slice: differentiable, no copy of the rest.

    Example: ``fnp.split(fnp.arange(6), 3)`` -> three arrays of shape ``(2,)``.
    """
    return _split("split", ary, indices_or_sections, axis, equal=True)


def array_split(ary, indices_or_sections, axis: int = 0) -> list:
    """Like :func:`split`, but ``k`` parts need not be equal (the first ``n % k`` get one more)."""
    return _split("array_split", ary, indices_or_sections, axis, equal=False)


def _split(op, ary, ios, axis, equal):
    x = _arr(ary, op)
    ax = _axis(op, axis, x.ndim)
    n = x.shape[ax]
    if isinstance(ios, (int, np.integer)) and not isinstance(ios, bool):
        k = int(ios)
        if k <= 0:
            raise ValueError(f"{op}: number of sections must be larger than 0, got {k}")
        if equal and n % k:
            raise ValueError(f"{op}: array split does not result in an equal division "
                             f"({n} along axis {ax} into {k})")
        q, r = divmod(n, k)
        bounds = np.cumsum([0] + [q + (1 if i < r else 0) for i in range(k)]).tolist()
    else:
        try:
            cuts = [int(i) for i in ios]
        except TypeError:
            raise TypeError(f"{op}: indices_or_sections must be an int or a sequence of ints, "
                            f"got {ios!r}") from None
        bounds = [0] + cuts + [n]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        lo, hi = slice(lo, hi).indices(n)[:2]
        hi = max(hi, lo)
        sl = [slice(None)] * x.ndim
        sl[ax] = slice(lo, hi)
        parts.append(x[tuple(sl)])
    return parts


def repeat(a, repeats, axis=None, total_repeat_length=None):
    """Each element of ``a`` repeated along ``axis`` (None: the flattened array), NumPy's
    ``repeat``. ``repeats``: an int (a broadcast, no gather) or a host sequence of one count
    per element (a gather). Differentiable in ``a``.

    Shapes: ``(..., n, ...)`` -> ``(..., n * repeats, ...)`` (or ``sum(repeats)``).
    Example: ``fnp.repeat(fnp.asarray([1, 2]), 2)`` -> ``[1, 1, 2, 2]``.
    """
    x = _arr(a, "repeat")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    ax = _axis("repeat", axis, x.ndim)
    n = x.shape[ax]
    if _is_array(repeats):
        raise TypeError("repeat: repeats must be static (an int or a host sequence); an fconv "
                        "array would make the result's shape depend on its values")
    r = np.asarray(repeats)
    if r.dtype.kind not in "iu":
        raise TypeError(f"repeat: repeats must be integers, got {repeats!r}")
    if (r < 0).any():
        raise ValueError(f"repeat: repeats may not be negative, got {repeats!r}")
    if r.ndim == 0 or r.size == 1:
        k = int(r.reshape(-1)[0])
        y = reshape(x, x.shape[:ax + 1] + (1,) + x.shape[ax + 1:])
        y = broadcast_to(y, x.shape[:ax + 1] + (k,) + x.shape[ax + 1:])
        out = reshape(y, x.shape[:ax] + (n * k,) + x.shape[ax + 1:])
    else:
        if r.ndim != 1 or r.size != n:
            raise ValueError(f"repeat: {r.size} repeats for an axis of length {n} (axis {ax})")
        idx = np.repeat(np.arange(n, dtype=np.int32), r)
        out = gather(x, asarray(idx), ax)
    if total_repeat_length is not None and out.shape[ax] != total_repeat_length:
        raise ValueError(f"repeat: total_repeat_length={total_repeat_length} but the result has "
                         f"{out.shape[ax]} along axis {ax}")
    return out

