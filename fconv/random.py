"""``fconv.random`` — pure, counter-based random numbers (JAX's ``jax.random`` model).

A *key* is an int32 array of shape ``(2,)`` holding two uint32 words (JAX's raw
``PRNGKey``). Functions never change a key; they derive numbers from it, so the
same key gives the same numbers on every device, eagerly or under ``jit``.
Use a key once, and :func:`split` it to get more::

    >>> from fconv import random
    >>> key = random.PRNGKey(0)
    >>> key, sub = random.split(key)          # keys[0], keys[1] of split(key, 2)
    >>> x = random.normal(sub, (2, 3))        # float32 (2, 3)
    >>> u = random.uniform(key, (4,), minval=-1.0, maxval=1.0)
    >>> m = random.bernoulli(key, 0.8, (4,))  # bool (4,)

The bits come from Threefry-2x32 (20 rounds) in an OpenCL kernel
(:mod:`fconv.ops.random_bits`, ``kernels/random.cl``) with JAX's
"partitionable" counter layout: ``PRNGKey``, ``split``, ``fold_in``, ``bits``
and ``uniform`` reproduce JAX's numbers for the same seed (under
``jax_threefry_partitionable``, JAX's default since 0.5). ``normal`` uses
Box-Muller (JAX uses the inverse error function, so normals differ from JAX's).

Keys are ordinary array arguments: pass them into ``jit``-compiled functions
and through ``grad`` (they get no gradient).
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .core.trace import Tracer
from .ops.random_bits import check_key, random_bits_p
from .runtime.array import Array

__all__ = ["PRNGKey", "key", "split", "fold_in", "bits", "uniform", "normal", "bernoulli",
           "randint", "permutation", "key_data"]


def _key(op: str, key):
    if isinstance(key, np.ndarray):
        from . import numpy as fnp
        key = fnp.asarray(key.astype(np.uint32).view(np.int32) if key.dtype == np.uint32 else key)
    if not isinstance(key, (Array, Tracer)):
        raise TypeError(f"{op}: key must be a key array from random.PRNGKey or random.split, "
                        f"got {type(key).__name__}")
    check_key(op, key)
    return key


def _shape(op: str, shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def _float_dtype(op: str, dtype) -> np.dtype:
    dt = dtypes.canonicalize(dtype, op)
    if not dtypes.is_float(dt):
        raise TypeError(f"{op}: dtype must be floating point (float16, float32, float64), got {dt}")
    return dt


def PRNGKey(seed) -> Array:
    """A key from an integer seed: ``[seed >> 32, seed & 0xffffffff]`` as two uint32 words
    stored in an int32 array of shape ``(2,)`` (JAX's ``PRNGKey``: ``PRNGKey(0)`` is ``[0, 0]``,
    negative seeds are sign-extended to 64 bits as JAX does).

    Example: ``key = random.PRNGKey(42)``.
    """
    if isinstance(seed, (Array, Tracer)) or isinstance(seed, np.ndarray) and seed.ndim:
        raise TypeError("PRNGKey: seed must be a Python int (a concrete value), got "
                        f"{type(seed).__name__}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"PRNGKey: seed must be an int, got {type(seed).__name__} ({seed!r})")
    seed = int(seed)
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError(f"PRNGKey: seed {seed} does not fit in 64 bits")
    words = np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], dtype=np.uint32)
    from . import numpy as fnp
    return fnp.asarray(words.view(np.int32))


key = PRNGKey


def key_data(key) -> np.ndarray:
    """The key's two words as a NumPy uint32 array (for printing and comparing)."""
    return np.asarray(_key("key_data", key)).view(np.uint32)


def split(key, num: int = 2):
    """``num`` new, independent keys from ``key``: an int32 array of shape ``(num, 2)``.

    Key ``i`` is ``threefry2x32(key, (0, i))`` (JAX's ``split``). Index it (``keys[i]``) or
    unpack it (``k1, k2 = random.split(key)``).

    Example: ``key, sub = random.split(key)``; ``keys = random.split(key, 8)  # (8, 2)``.
    """
    key = _key("split", key)
    if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 0:
        raise ValueError(f"split: num must be a non-negative int, got {num!r}")
    return random_bits_p.bind(key, shape=(int(num),), dist="pair", dtype=dtypes.int32, offset=0)


def fold_in(key, data: int):
    """A new key from ``key`` and a Python int ``data`` (e.g. a step or layer index):
    ``threefry2x32(key, (0, data))``, as JAX's ``fold_in``. Shape ``(2,)``.

    Example: ``k_layer = random.fold_in(key, 3)``.
    """
    key = _key("fold_in", key)
    if isinstance(data, (Array, Tracer)) or not isinstance(data, (int, np.integer)):
        raise TypeError(f"fold_in: data must be a Python int (static), got {type(data).__name__}")
    data = int(data) & 0xFFFFFFFF
    out = random_bits_p.bind(key, shape=(), dist="pair", dtype=dtypes.int32, offset=data)
    return out


def bits(key, shape=()):
    """32 random bits per element, as int32 (reinterpret as uint32 with ``.view(np.uint32)``
    on the host). Shape ``shape``. Equals JAX's ``random.bits(key, shape, uint32)``."""
    key = _key("bits", key)
    return random_bits_p.bind(key, shape=_shape("bits", shape), dist="bits", dtype=dtypes.int32,
                              offset=0)


def _is_default(v, x) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and float(v) == x


def uniform(key, shape=(), dtype=dtypes.float32, minval=0.0, maxval=1.0):
    """Uniform samples in ``[minval, maxval)``, shape ``shape``, floating ``dtype``.

    With the default bounds the values are ``k * 2^-23`` (float32; ``2^-52`` for float64,
    ``2^-10`` for float16) for uniformly random integers ``k``, exactly as JAX. Other
    bounds (Python scalars or arrays broadcasting to ``shape``) scale and shift:
    ``max(minval, u * (maxval - minval) + minval)``.

    Example: ``random.uniform(key, (2, 3), minval=-1.0, maxval=1.0)``.
    """
    key = _key("uniform", key)
    shape = _shape("uniform", shape)
    dt = _float_dtype("uniform", dtype)
    u = random_bits_p.bind(key, shape=shape, dist="uniform", dtype=dt, offset=0)
    if _is_default(minval, 0.0) and _is_default(maxval, 1.0):
        return u
    from . import numpy as fnp
    lo = minval if not isinstance(minval, (Array, Tracer)) else minval.astype(dt)
    hi = maxval if not isinstance(maxval, (Array, Tracer)) else maxval.astype(dt)
    span = float(hi) - float(lo) if _both_scalar(lo, hi) else fnp.subtract(hi, lo)
    y = fnp.maximum(u * span + lo, lo)
    if tuple(y.shape) != shape:
        raise ValueError(f"uniform: minval/maxval of shapes {np.shape(minval)}, {np.shape(maxval)} "
                         f"broadcast the result beyond shape {shape}")
    return y


def _both_scalar(a, b) -> bool:
    return not isinstance(a, (Array, Tracer)) and not isinstance(b, (Array, Tracer))


def normal(key, shape=(), dtype=dtypes.float32):
    """Standard normal samples, shape ``shape``, floating ``dtype`` (Box-Muller on the device:
    each element from its own Threefry block, ``sqrt(-2 log u1) cos(2 pi u2)``).

    Example: ``w = 0.02 * random.normal(key, (64, 3, 3, 3))``.
    """
    key = _key("normal", key)
    shape = _shape("normal", shape)
    dt = _float_dtype("normal", dtype)
    return random_bits_p.bind(key, shape=shape, dist="normal", dtype=dt, offset=0)


def bernoulli(key, p=0.5, shape=None):
    """Random booleans, True with probability ``p`` (a Python float or an array broadcasting
    to ``shape``; ``shape`` defaults to ``p``'s shape). Computed as ``uniform(key) < p``.

    Example: ``keep = random.bernoulli(key, 0.9, x.shape)``.
    """
    key = _key("bernoulli", key)
    if shape is None:
        shape = tuple(getattr(p, "shape", ()))
    shape = _shape("bernoulli", shape)
    if isinstance(p, (Array, Tracer)):
        dt = p.dtype if dtypes.is_float(p.dtype) else dtypes.float32
        return uniform(key, shape, dt) < p.astype(dt)
    if not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"bernoulli: p must be a float or an array, got {type(p).__name__}")
    # one kernel straight to the mask: the same values as uniform(key, shape) < float32(p)
    return random_bits_p.bind(key, shape=shape, dist="bernoulli", dtype=dtypes.bool_, offset=0,
                              p=float(np.float32(p)))


_INT32_MAX = 2 ** 31 - 1


def randint(key, shape=(), minval=0, maxval=None, dtype=dtypes.int32):
    """Random int32 integers in ``[minval, maxval)``, shape ``shape`` (JAX's ``randint``).

    ``minval``/``maxval``: Python ints (``maxval - minval`` at most ``2**31 - 1``) or int32
    arrays broadcasting to ``shape``. Each value is ``minval + bits mod (maxval - minval)``
    over 32 random bits (floor-mod, so the bias is below ``span / 2**32``). Bounds given as
    Python ints must satisfy ``minval < maxval`` (a ValueError otherwise).

    Example: ``labels = random.randint(key, (8,), 0, 10)``.
    """
    key = _key("randint", key)
    shape = _shape("randint", shape)
    if dtypes.canonicalize(dtype, "randint") != dtypes.int32:
        raise TypeError(f"randint: dtype must be int32, got {dtype}")
    if maxval is None:
        raise TypeError("randint: maxval is required (randint(key, shape, minval, maxval))")
    from . import numpy as fnp
    static = [not isinstance(v, (Array, Tracer)) for v in (minval, maxval)]
    for name, v, st in (("minval", minval, static[0]), ("maxval", maxval, static[1])):
        if st and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))):
            raise TypeError(f"randint: {name} must be an int or an int32 array, got {v!r}")
        if not st and v.dtype != dtypes.int32:
            raise TypeError(f"randint: {name} must be int32, got {v.dtype}{tuple(v.shape)}")
    b = bits(key, shape)
    if all(static):
        lo, hi = int(minval), int(maxval)
        if not lo < hi:
            raise ValueError(f"randint: minval {lo} must be below maxval {hi}")
        if hi - lo > _INT32_MAX or lo < -2 ** 31 or hi > 2 ** 31:
            raise ValueError(f"randint: [{lo}, {hi}) does not fit int32 with a span of at most 2**31 - 1")
        y = fnp.mod(b, np.int32(hi - lo))
        return y + np.int32(lo) if lo else y
    lo = minval if not static[0] else np.int32(minval)
    hi = maxval if not static[1] else np.int32(maxval)
    span = fnp.maximum(fnp.subtract(hi, lo), np.int32(1))  # an empty range gives minval
    y = fnp.add(fnp.mod(b, span), lo)
    if tuple(y.shape) != shape:
        raise ValueError(f"randint: minval/maxval of shapes {np.shape(minval)}, {np.shape(maxval)} "
                         f"broadcast the result beyond shape {shape}")
    return y


def permutation(key, x, axis: int = 0):
    """A random permutation: of ``range(x)`` for an int ``x`` (int32), else of ``x``'s
    entries along ``axis`` (JAX's ``permutation``). Differentiable in an array ``x``.

    The order is the stable argsort of 32 random bits per entry, found on the device by
    counting, for each entry, the entries that sort before it: O(n^2) comparisons in blocks
    (fine for thousands of entries; shuffle a large dataset's indices with NumPy).

    Example: ``order = random.permutation(key, 100)``; ``xs = random.permutation(key, xs)``.
    """
    from . import numpy as fnp
    key = _key("permutation", key)
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        if x < 0:
            raise ValueError(f"permutation: x must be a non-negative int, got {x}")
        n, arr = int(x), None
    else:
        arr = x if isinstance(x, (Array, Tracer)) else fnp.asarray(x)
        if arr.ndim == 0:
            raise ValueError("permutation: x must be an int or an array of at least one dimension")
        if not -arr.ndim <= axis < arr.ndim:
            raise ValueError(f"permutation: axis {axis} is out of range for shape {tuple(arr.shape)}")
        axis = int(axis) % arr.ndim
        n = arr.shape[axis]
    if n == 0:
        return fnp.zeros((0,), dtypes.int32) if arr is None else arr
    b = bits(key, (n,))
    idx = fnp.arange(n)
    # rank[i] = #{j : (b[j], j) < (b[i], i)}: the position of entry i in the sorted order
    ranks, rows = [], max(1, (1 << 22) // n)
    for lo in range(0, n, rows):
        bi, ii = b[lo:lo + rows][:, None], idx[lo:lo + rows][:, None]
        before = fnp.logical_or(b[None, :] < bi, fnp.logical_and(b[None, :] == bi, idx[None, :] < ii))
        ranks.append(fnp.sum(before, axis=1))
    rank = ranks[0] if len(ranks) == 1 else fnp.concatenate(ranks)
    order = fnp.zeros((n,), dtypes.int32).at[rank].set(idx)  # order[rank[i]] = i
    return order if arr is None else fnp.take(arr, order, axis=axis)
