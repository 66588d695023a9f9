"""What the tests share for checking numbers: the tolerance table and the gradient checker.

``tests/`` is on ``sys.path`` (``pythonpath = ["tests"]`` in pyproject.toml; the
subprocess helpers in conftest.py put it on ``PYTHONPATH``), so a test writes
``from helpers import check_grads, tolerance``. Its neighbours stay separate modules:
``reference.py`` (the float64 NumPy references: *what* the right answer is) and
``plan_runner.py`` (running one strategy's KernelPlan on host arrays).

Tolerances
    :data:`TOLERANCES` is the one table: ``kind -> dtype -> dict(rtol=, atol=)``, and
    :func:`tolerance(dtype, kind) <tolerance>` reads it. A kind is a class of computation
    with its own error budget (the atol is per unit of the quantity the test scales by —
    ``max |want|`` or ``sqrt(terms)``; see each kind's comment):

    ``elementwise``     one rounding per element (arithmetic, comparisons, pooling);
    ``transcendental``  exp/log/tanh/...: OpenCL allows a few ulp;
    ``sum``             a float sum of n terms (rtol of ``sum |x|``; atol unused);
    ``matmul``          GEMM and conv via lax (atol per ``max(1, max |want|)``);
    ``conv``            one conv kernel direction (atol per ``max(1, sqrt(terms))``);
    ``depthwise``       the depthwise kernels (few terms per output: tighter float32).

Gradients
    :func:`check_grads` checks ``fc.grad`` against float64 central finite differences
    along random (or every coordinate) direction, to first or second order;
    :func:`central_difference` is the finite difference alone (also for NumPy functions).
"""
from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np

import fconv as fc
import fconv.numpy as fnp
from fconv.tree_util import tree_flatten, tree_map, tree_unflatten

REPO = Path(__file__).resolve().parent.parent
EPS = 1e-6  # the finite-difference step (float64: truncation ~eps^2, rounding ~1e-16/eps)

_F64, _F32, _F16 = np.dtype("float64"), np.dtype("float32"), np.dtype("float16")


def _tol(f64, f32, f16=None) -> dict:
    t = {_F64: dict(rtol=f64[0], atol=f64[1]), _F32: dict(rtol=f32[0], atol=f32[1])}
    if f16 is not None:
        t[_F16] = dict(rtol=f16[0], atol=f16[1])
    return t


#: kind -> dtype -> dict(rtol=..., atol=...): (rtol, atol) per float64, float32, float16.
TOLERANCES: dict[str, dict[np.dtype, dict]] = {
    "elementwise": _tol((1e-12, 1e-12), (2e-6, 1e-6), (2e-3, 2e-3)),
    "transcendental": _tol((1e-10, 1e-12), (1e-5, 1e-6), (4e-3, 4e-3)),
    "sum": _tol((1e-10, 0.0), (1e-6, 0.0), (1e-3, 0.0)),
    "matmul": _tol((1e-11, 1e-11), (1e-4, 1e-4)),
    "conv": _tol((1e-10, 1e-10), (2e-4, 2e-4), (2e-2, 5e-2)),
    "depthwise": _tol((1e-10, 1e-10), (2e-5, 2e-5), (1e-2, 2e-2)),
}


def tolerance(dtype, kind: str = "elementwise", scale: float = 1.0) -> dict:
    """``dict(rtol=, atol=)`` for results of ``kind`` computed in ``dtype``, the atol times
    ``scale`` (a new dict: callers may change it)."""
    try:
        t = dict(TOLERANCES[kind][np.dtype(dtype)])
    except KeyError:
        raise KeyError(f"no tolerance for kind={kind!r} dtype={np.dtype(dtype)}; "
                       f"kinds: {sorted(TOLERANCES)}") from None
    t["atol"] *= scale
    return t


# ------------------------------------------------------------------ finite differences
def host(x) -> np.ndarray:
    """``x`` (an fconv Array or anything array-like) as a float64 NumPy array."""
    return np.asarray(x).astype(np.float64)


def scalar(x) -> float:
    """The one value of a scalar (or size-1) result."""
    return float(np.asarray(x).reshape(-1)[0])


def _like(template, value: np.ndarray):
    """``value`` (float64) as the kind of leaf ``template`` is: an fconv Array stays one."""
    return fnp.asarray(value) if isinstance(template, fc.Array) else value


def _shift(tree, direction, alpha: float):
    """``tree + alpha * direction`` leafwise, in float64."""
    return tree_map(lambda x, v: _like(x, host(x) + alpha * host(v)), tree, direction)


def _vdot(a, b) -> float:
    la, ta = tree_flatten(a)
    lb, tb = tree_flatten(b)
    assert ta == tb, (ta, tb)
    return sum(float(np.sum(host(x) * host(y))) for x, y in zip(la, lb))


def central_difference(f, args, dirs: dict, eps: float = EPS):
    """``(f(args + eps v) - f(args - eps v)) / 2 eps``: ``dirs`` maps argument positions to
    directions (pytrees shaped like those arguments). ``f`` returns a scalar (its value is
    a float) or a pytree of arrays (the difference is then a pytree of float64 arrays)."""
    plus, minus = list(args), list(args)
    for i, v in dirs.items():
        plus[i] = _shift(args[i], v, eps)
        minus[i] = _shift(args[i], v, -eps)
    fp, fm = f(*plus), f(*minus)
    if not isinstance(fp, (tuple, list, dict)) and np.ndim(fp) == 0:
        return (scalar(fp) - scalar(fm)) / (2 * eps)
    return tree_map(lambda p, m: (host(p) - host(m)) / (2 * eps), fp, fm)


def _random_dirs(args, nums, rng) -> dict:
    return {i: tree_map(lambda x: rng.normal(size=np.shape(x)), args[i]) for i in nums}


def _basis_dirs(args, nums):
    """Every coordinate direction of every leaf of the arguments ``nums``."""
    for i in nums:
        leaves, tree = tree_flatten(args[i])
        for k, leaf in enumerate(leaves):
            for idx in itertools.product(*map(range, np.shape(leaf))):
                vs = [np.zeros(np.shape(x)) for x in leaves]
                vs[k][idx] = 1.0
                yield {j: tree_map(lambda x: np.zeros(np.shape(x)), args[j]) for j in nums if j != i} | {
                    i: tree_unflatten(tree, vs)}


def check_grads(f, args, order: int = 1, modes=("rev",), eps: float = EPS, atol: float = 1e-8,
                rtol: float = 1e-6, *, argnums=None, n_dirs: int = 1, seed: int = 0, basis: bool = False):
    """Check ``fc.grad(f, argnums)`` at ``args`` against float64 central finite differences.

    JAX's ``jax.test_util.check_grads`` in spirit: ``f`` maps ``args`` (fconv Arrays or
    pytrees of them; perturbed in float64) to a scalar. Order 1: for each direction ``v``
    (``n_dirs`` random normal ones from ``seed``, or with ``basis`` every coordinate
    direction), ``|<grad f, v> - fd_v| <= atol + rtol * max(1, |fd_v|)``. Order 2 also
    checks the Hessian-vector product ``grad(<grad f, v>)`` against the finite difference
    of ``grad f`` along ``v``, leafwise: ``|hv - fd| <= atol + rtol * max(1, max |fd|)
    + rtol * |fd|``. Only reverse mode exists (``modes=("rev",)``).

    ``argnums``: an int or a tuple (default: every argument). Returns ``fc.grad``'s
    value at ``args`` (one gradient for an int ``argnums``, else a tuple).
    """
    if tuple(modes) != ("rev",):
        raise ValueError(f"fconv has reverse mode only: modes={modes!r}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    args = tuple(args)
    nums = tuple(range(len(args))) if argnums is None else (
        (argnums,) if isinstance(argnums, int) else tuple(argnums))
    g = fc.grad(f, argnums=nums)(*args)
    rng = np.random.default_rng(seed)
    dir_sets = list(_basis_dirs(args, nums)) if basis else [_random_dirs(args, nums, rng) for _ in range(n_dirs)]
    for dirs in dir_sets:
        fd = central_difference(f, args, dirs, eps)
        an = sum(_vdot(g[k], dirs[i]) for k, i in enumerate(nums))
        assert abs(an - fd) <= atol + rtol * max(1.0, abs(fd)), \
            f"analytic {an} vs finite differences {fd} (|diff| {abs(an - fd):.3g})"
    if order == 2:
        gf = fc.grad(f, argnums=nums)
        for _ in range(n_dirs):
            dirs = _random_dirs(args, nums, rng)
            vs = [tree_map(lambda v: fnp.asarray(np.asarray(v, np.float64)), dirs[i]) for i in nums]

            def gv(*a, vs=vs):
                total = None
                for gi, vi in zip(gf(*a), vs):
                    for x, v in zip(tree_flatten(gi)[0], tree_flatten(vi)[0]):
                        t = fnp.sum(x * v)
                        total = t if total is None else total + t
                return total

            hv = fc.grad(gv, argnums=nums)(*args)
            fd = central_difference(lambda *a: tuple(gf(*a)), args, dirs, eps)
            for h, d in zip(tree_flatten(tuple(hv))[0], tree_flatten(tuple(fd))[0]):
                np.testing.assert_allclose(host(h), d, rtol=rtol,
                                           atol=atol + rtol * max(1.0, float(np.abs(d).max(initial=0))),
                                           err_msg="Hessian-vector product vs finite differences of grad")
    return g[0] if isinstance(argnums, int) else g


# ------------------------------------------------------------------ scripts
def import_benchmark(name: str):
    """Import ``benchmarks/<name>.py`` (scripts, not a package) without touching sys.path."""
    path = REPO / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
