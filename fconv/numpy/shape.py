"""fconv.numpy: shape manipulation and indexing (reshape, transpose, pad, concatenate, ...)."""
from __future__ import annotations

import math
import operator

import numpy as np

from ..ops.shape import broadcast_p, concatenate_p, pad_p, reshape_p, rev_p, slice_p, transpose_p
from .base import _arr, _is_scalar, _promote, full

__all__ = ["reshape", "ravel", "transpose", "swapaxes", "moveaxis", "broadcast_to", "expand_dims",
           "squeeze", "concatenate", "stack", "pad", "flip"]


def _axis(op, a, ndim):
    """``a`` as a non-negative axis of an ``ndim``-d array, or a ValueError naming ``op``."""
    if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
        raise TypeError(f"{op}: axis {a!r} is not an integer")
    if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
        raise ValueError(f"{op}: axis {a} is out of range for an array of {ndim} dimensions")
    return int(a) % max(ndim, 1)


def reshape(x, shape):
    """``x`` with a new shape of the same size (one ``-1`` is inferred). No copy.

    ``shape``: an int or a sequence of ints (TypeError otherwise, e.g. for ``2.0``); at most one
    ``-1`` and no other negative entry (ValueError naming both shapes), as NumPy.
    Example: ``fnp.reshape(fnp.zeros((2, 6)), (3, -1)).shape == (3, 4)``.
    """
    x = _arr(x, "reshape")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (int(shape),)
    try:
        if isinstance(shape, (str, bytes)) or any(isinstance(s, (bool, np.bool_)) for s in shape):
            raise TypeError
        shape = [operator.index(s) for s in shape]
    except TypeError:
        raise TypeError(f"reshape: shape must be an int or a sequence of ints, got {shape!r} "
                        f"(reshaping an array of shape {tuple(x.shape)})") from None
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension (-1), got {tuple(shape)} "
                         f"for an array of shape {tuple(x.shape)}")
    if any(s < -1 for s in shape):
        raise ValueError(f"reshape: negative dimension in {tuple(shape)} (only -1, once, is allowed) "
                         f"for an array of shape {tuple(x.shape)}")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or x.size % known:
            raise ValueError(f"reshape: cannot reshape {x.shape} into {tuple(shape)}")
        shape[shape.index(-1)] = x.size // known
    shape = tuple(shape)
    if shape == tuple(x.shape):
        return x
    return reshape_p.bind(x, new_shape=shape)


def ravel(x):
    return reshape(x, (-1,))


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None). ``(2, 3, 4) -> (4, 3, 2)``."""
    x = _arr(x, "transpose")
    perm = tuple(range(x.ndim))[::-1] if axes is None else tuple(_axis("transpose", a, x.ndim) for a in axes)
    if len(perm) != x.ndim or sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation for shape {x.shape}")
    if perm == tuple(range(x.ndim)):
        return x
    return transpose_p.bind(x, permutation=perm)


def swapaxes(x, axis1, axis2):
    x = _arr(x, "swapaxes")
    perm = list(range(x.ndim))
    a, b = _axis("swapaxes", axis1, x.ndim), _axis("swapaxes", axis2, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    x = _arr(x, "moveaxis")
    src, dst = _axis("moveaxis", source, x.ndim), _axis("moveaxis", destination, x.ndim)
    perm = [i for i in range(x.ndim) if i != src]
    perm.insert(dst, src)
    return transpose(x, perm)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` with NumPy's rules (materialised)."""
    shape = tuple(int(s) for s in shape)
    if _is_scalar(x):
        return full(shape, x)
    x = _arr(x, "broadcast_to")
    if tuple(x.shape) == shape:
        return x
    return broadcast_p.bind(x, shape=shape)


def expand_dims(x, axis):
    x = _arr(x, "expand_dims")
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = x.ndim + len(axes)
    axes = sorted(_axis("expand_dims", a, nd) for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in {axis!r}")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


def squeeze(x, axis=None):
    x = _arr(x, "squeeze")
    if axis is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        axes = [_axis("squeeze", a, x.ndim) for a in ((axis,) if isinstance(axis, int) else axis)]
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} is not 1")
    return reshape(x, [s for i, s in enumerate(x.shape) if i not in axes])


def concatenate(arrays, axis=0):
    """Join arrays along an existing axis (dtypes promoted)."""
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError("concatenate: expects a non-empty list or tuple of arrays")
    xs = _promote("concatenate", *[_arr(a, "concatenate") for a in arrays])
    nd = xs[0].ndim
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    if not -nd <= axis < nd:
        raise ValueError(f"concatenate: axis {axis} out of range for {nd}-d arrays")
    if len(xs) == 1:
        return xs[0]
    return concatenate_p.bind(*xs, axis=axis % nd)


def stack(arrays, axis=0):
    """Join arrays of one shape along a new axis."""
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError("stack: expects a non-empty list or tuple of arrays")
    xs = [_arr(a, "stack") for a in arrays]
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack: all arrays must have one shape, got {sorted(shapes)}")
    nd = xs[0].ndim + 1
    ax = _axis("stack", axis, nd)
    return concatenate([expand_dims(x, ax) for x in xs], axis=ax)


def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad with a constant (``mode="constant"`` only). ``pad_width`` as in NumPy.

    Example: ``fnp.pad(x, ((0, 0), (1, 2)))`` on ``(3, 4)`` gives ``(3, 7)``.
    """
    x = _arr(x, "pad")
    if mode != "constant":
        raise ValueError(f"pad: mode={mode!r} is not supported (only 'constant')")
    pw = np.asarray(pad_width, dtype=np.int64)
    try:
        pw = np.broadcast_to(pw, (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit shape {x.shape}") from None
    if (pw < 0).any():
        raise ValueError(f"pad: negative pad_width {pad_width!r} for shape {x.shape}")
    config = tuple((int(lo), int(hi), 0) for lo, hi in pw)
    value = np.asarray(constant_values, dtype=x.dtype)[()] if not hasattr(constant_values, "aval") \
        else constant_values.astype(x.dtype)
    return pad_p.bind(x, value, config=config)


def flip(x, axis=None):
    x = _arr(x, "flip")
    axes = tuple(range(x.ndim)) if axis is None else tuple(
        _axis("flip", a, x.ndim) for a in ((axis,) if isinstance(axis, int) else axis))
    return rev_p.bind(x, axes=tuple(sorted(axes)))


def getitem(x, idx):
    """Indexing: ints, slices (any step), None and Ellipsis (basic: slices, no gather); integer
    arrays and concrete boolean masks gather (:func:`fconv.numpy.indexing.advanced_getitem`).
    A boolean scalar is NumPy's 0-d mask: ``x[True]`` adds a leading axis of length 1,
    ``x[False]`` one of length 0 (beside index arrays it is an IndexError)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    has_bool = any(isinstance(i, (bool, np.bool_)) for i in idx)
    if any(isinstance(i, (list, np.ndarray)) or hasattr(i, "aval") for i in idx):
        if has_bool:
            raise IndexError(f"__getitem__: a boolean scalar index (True/False) beside index arrays is not "
                             f"supported (index {idx!r:.80}, array of shape {tuple(x.shape)})")
        from .indexing import advanced_getitem
        return advanced_getitem(x, idx)
    if has_bool:
        return _bool_scalar_getitem(x, idx)
    n_ell = sum(i is Ellipsis for i in idx)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis")
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if n_real > x.ndim:
        raise IndexError(f"too many indices ({n_real}) for an array of shape {x.shape}")
    if n_ell:
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (x.ndim - n_real) + idx[k + 1:]
    else:
        idx = idx + (slice(None),) * (x.ndim - n_real)
    start, limit, step, flips, out_shape = [], [], [], [], []
    dim = 0
    for i in idx:
        if i is None:
            out_shape.append(1)
            continue
        d = x.shape[dim]
        if isinstance(i, (int, np.integer)):
            j = int(i)
            if not -d <= j < d:
                raise IndexError(f"index {j} is out of bounds for axis {dim} with size {d}")
            j %= d
            start.append(j)
            limit.append(j + 1)
            step.append(1)
        elif isinstance(i, slice):
            s, e, st = i.indices(d)
            n = len(range(s, e, st))
            if st > 0:
                start.append(s)
                limit.append(s + (n - 1) * st + 1 if n else s)
                step.append(st)
            else:
                # walk forward over the same elements, then reverse the axis
                first = s + (n - 1) * st if n else 0
                start.append(first)
                limit.append(first + (n - 1) * (-st) + 1 if n else first)
                step.append(-st)
                flips.append(dim)
            out_shape.append(n)
        else:
            raise TypeError(f"__getitem__: unsupported index {i!r}")
        dim += 1
    y = x
    if (tuple(start), tuple(limit), tuple(step)) != ((0,) * x.ndim, tuple(x.shape), (1,) * x.ndim):
        y = slice_p.bind(x, start=tuple(start), limit=tuple(limit), step=tuple(step))
    if flips and y.size:
        y = rev_p.bind(y, axes=tuple(flips))
    return reshape(y, out_shape)


def _bool_scalar_getitem(x, idx: tuple):
    """``x[idx]`` where ``idx`` (no index arrays) holds True/False: NumPy treats them as 0-d
    boolean masks, advanced indices that with the ints among ``idx`` make one new axis, of
    length 1 (all True) or 0, where they stand when adjacent, else first."""
    def is_bool(i):
        return isinstance(i, (bool, np.bool_))
    n = 1 if all(bool(i) for i in idx if is_bool(i)) else 0
    adv = [p for p, i in enumerate(idx) if is_bool(i) or isinstance(i, (int, np.integer))]
    rest = tuple(i for i in idx if not is_bool(i))
    y = getitem(x, rest)
    pos = 0
    if adv == list(range(adv[0], adv[-1] + 1)):
        n_real = sum(1 for i in rest if i is not None and i is not Ellipsis)
        pos = sum(1 if (i is None or isinstance(i, slice)) else (x.ndim - n_real) if i is Ellipsis else 0
                  for i in idx[:adv[0]])
    y = reshape(y, tuple(y.shape[:pos]) + (1,) + tuple(y.shape[pos:]))
    if n == 0:
        y = getitem(y, (slice(None),) * pos + (slice(0, 0),))
    return y
