"""``vjp``, ``grad``, ``value_and_grad`` over pytrees (JAX's signatures)."""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from .. import dtypes
from ..core.aval import ShapedArray, abstractify
from ..core.jaxpr import eval_jaxpr
from ..core.trace import Tracer, trace_to_jaxpr
from ..ops.shape import full
from ..runtime.array import Array
from ..runtime.transfer import from_host
from ..tree_util import SequenceKey, keystr, tree_flatten, tree_leaves_with_path, tree_unflatten
from .backward import backward_pass


def _is_array_like(x) -> bool:
    """An fconv array or tracer, a NumPy array/scalar or a Python int/float (not a bool)."""
    return (isinstance(x, (Array, Tracer, np.ndarray, float, int, np.generic))
            and not isinstance(x, (bool, np.bool_, np.str_, np.bytes_)))


def _leaf_name(kind: str, path: tuple) -> str:
    """``argument 0's leaf ['tag']`` for the path ``(SequenceKey(0), DictKey('tag'))``."""
    head, rest = path[0].idx, keystr(path[1:])
    return f"{kind} {head}'s leaf {rest}" if rest else f"{kind} {head}"


def _not_array(op: str, what: str, x) -> TypeError:
    return TypeError(f"{op}: {what} is a {type(x).__name__}, not an array; mark it static with a "
                     "closure / functools.partial, or keep it out of the differentiated argument")


def _as_array(x, op, what: str = "an argument leaf"):
    if isinstance(x, (Array, Tracer)):
        return x
    if _is_array_like(x):
        return from_host(x, op=op)
    raise _not_array(op, what, x)


def vjp(f: Callable, *primals, has_aux: bool = False, _check_out: Callable | None = None):
    """``(out, vjp_fn)`` (and ``aux``): ``vjp_fn(ct)`` maps an output cotangent to input cotangents.

    Example::

        y, pullback = fc.vjp(lambda x: fnp.sum(x * x), x)   # x: (3,)
        (g,) = pullback(fnp.ones(()))                      # g = 2 * x, shape (3,)
    """
    flat, in_tree = tree_flatten(primals)
    flat = [_as_array(x, "vjp", _leaf_name("primal", p)) for (p, _), x in
            zip(tree_leaves_with_path(primals), flat)]
    store: dict = {}

    def flat_fun(*args):
        res = f(*tree_unflatten(in_tree, list(args)))
        if has_aux:
            if not (isinstance(res, tuple) and len(res) == 2):
                raise TypeError("vjp/grad with has_aux=True: the function must return (output, aux)")
            res, aux = res
            aux_leaves, store["aux_tree"] = tree_flatten(aux)
            # array leaves of aux are program outputs; anything else (a Python number) passes through
            store["aux_static"] = [None if isinstance(a, (Array, Tracer)) else a for a in aux_leaves]
            aux_flat = [a for a in aux_leaves if isinstance(a, (Array, Tracer))]
        else:
            aux_flat = []
        out_flat, store["out_tree"] = tree_flatten(res)
        for o in out_flat:
            if not isinstance(o, (Array, Tracer)):
                raise TypeError(f"vjp: the function must return arrays, got {type(o).__name__}")
        store["n_out"] = len(out_flat)
        return out_flat + aux_flat

    avals = [ShapedArray(x.shape, x.dtype) for x in flat]
    jaxpr, consts = trace_to_jaxpr(flat_fun, avals)
    if _check_out is not None:  # e.g. grad's scalar-output check, before any kernel runs
        _check_out([v.aval for v in jaxpr.outvars[:store["n_out"]]])
    env: dict = {}
    results = eval_jaxpr(jaxpr, consts, flat, record=env)
    n_out = store["n_out"]
    out = tree_unflatten(store["out_tree"], results[:n_out])
    out_avals = [v.aval for v in jaxpr.outvars[:n_out]]
    out_tree = store["out_tree"]

    def vjp_fn(ct):
        ct_flat, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"vjp_fn: cotangent structure {ct_tree} differs from the output's {out_tree}")
        cts = []
        for c, a in zip(ct_flat, out_avals):
            c = _as_array(c, "vjp_fn")
            if tuple(c.shape) != a.shape:
                raise ValueError(f"vjp_fn: cotangent of shape {tuple(c.shape)} for an output of shape {a.shape}")
            cts.append(c)
        sub = _Sub(jaxpr, n_out)
        ct_in = backward_pass(sub, env, cts)
        ct_in = [c if c is not None else full(x.shape, 0, x.dtype) for c, x in zip(ct_in, flat)]
        return tree_unflatten(in_tree, ct_in)

    if has_aux:
        it = iter(results[n_out:])
        aux_leaves = [next(it) if s is None else s for s in store["aux_static"]]
        return out, vjp_fn, tree_unflatten(store["aux_tree"], aux_leaves)
    return out, vjp_fn


class _Sub:
    """The jaxpr's view with only the differentiated outputs (aux outputs dropped)."""

    def __init__(self, jaxpr, n_out):
        self.eqns = jaxpr.eqns
        self.invars = jaxpr.invars
        self.outvars = jaxpr.outvars[:n_out]


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Like :func:`grad`, returning ``(value, grad)`` (``((value, aux), grad)`` with has_aux).

    Example: ``loss, grads = fc.value_and_grad(loss_fn)(params, x, y)``.
    """
    multi = not isinstance(argnums, int)
    nums = tuple(argnums) if multi else (argnums,)

    @functools.wraps(f, updated=())
    def wrapped(*args, **kwargs):
        for n in nums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"grad: argnums={argnums} but the function got {len(args)} positional arguments")
        nums_ = tuple(n % len(args) for n in nums)
        for n in nums_:
            for path, leaf in tree_leaves_with_path(args[n]):
                what = _leaf_name("argument", (SequenceKey(n),) + path)
                if not _is_array_like(leaf):
                    raise _not_array("grad", what, leaf)
                dt = getattr(leaf, "dtype", None) or np.asarray(leaf).dtype
                if not dtypes.is_float(dtypes.canonicalize(dt)):
                    raise TypeError(f"grad: {what} has dtype {dt}; grad needs floating "
                                    "point inputs (argnums selects which arguments are differentiated)")

        def partial(*diff):
            full = list(args)
            for n, d in zip(nums_, diff):
                full[n] = d
            return f(*full, **kwargs)

        def check(out_avals):
            if len(out_avals) != 1 or out_avals[0].shape != ():
                shapes = [a.shape for a in out_avals]
                raise TypeError(f"grad: the function must return one scalar (shape ()), got "
                                f"{shapes[0] if len(shapes) == 1 else shapes}; use fc.vjp for non-scalar outputs")
            if not dtypes.is_float(out_avals[0].dtype):
                raise TypeError(f"grad: the function's output must be floating point, got {out_avals[0].dtype}")

        res = vjp(partial, *[args[n] for n in nums_], has_aux=has_aux, _check_out=check)
        out, pullback = res[0], res[1]
        g = pullback(full((), 1, out.dtype))
        g = g if multi else g[0]
        return ((out, res[2]), g) if has_aux else (out, g)

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    Example::

        def loss(params, x):
            return fnp.mean(lax.conv2d(x, params["w"]) ** 2)
        grads = fc.grad(loss)(params, x)   # same pytree structure as params
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f, updated=())
    def wrapped(*args, **kwargs):
        (v, g) = vg(*args, **kwargs)
        return (g, v[1]) if has_aux else g

    return wrapped


def make_jaxpr(f: Callable, static_argnums: int | Sequence[int] = ()) -> Callable:
    """``make_jaxpr(f)(*args)`` traces ``f`` and returns its program (``print`` it).

    Arguments may be fconv/NumPy arrays or anything with ``.shape`` and ``.dtype``.
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(f, updated=())
    def wrapped(*args, **kwargs):
        from ..core.jaxpr import ClosedJaxpr
        dyn_idx = [i for i in range(len(args)) if i not in static]
        flat, in_tree = tree_flatten([args[i] for i in dyn_idx])
        avals = [abstractify(x) for x in flat]  # the rule jit uses: Python scalars are weak
        store: dict = {}

        def flat_fun(*tracers):
            dyn = tree_unflatten(in_tree, list(tracers))
            full = list(args)
            for i, d in zip(dyn_idx, dyn):
                full[i] = d
            out = f(*full, **kwargs)
            out_flat, store["tree"] = tree_flatten(out)
            return out_flat

        jaxpr, consts = trace_to_jaxpr(flat_fun, avals)
        return ClosedJaxpr(jaxpr, consts, in_tree, store["tree"])

    return wrapped

