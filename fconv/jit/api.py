"""``fc.jit``: trace once per input signature, compile to an Executable, replay.

The cache key is the input tree structure, every leaf's abstract value, the
static arguments' values, the device and the settings that change code.
``FCONV_LOG_COMPILES=1`` logs every trace/compile with its time and, on a miss,
what differs from the nearest cached entry.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import sys
import time
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from .. import config
from ..core.aval import ShapedArray
from ..core.jaxpr import ClosedJaxpr
from ..core.trace import Tracer, trace_to_jaxpr
from ..runtime.array import Array
from ..runtime.device import default_device
from ..runtime.transfer import from_host
from ..tree_util import tree_flatten, tree_unflatten
from . import eager  # noqa: F401  (registers eager execution with core)
from .executable import Executable


def _log(msg: str) -> None:
    if config.enabled("FCONV_LOG_COMPILES"):
        print(f"[fconv.jit] {msg}", file=sys.stderr)


def _describe_diff(key, nearest) -> str:
    names = ("function", "input structure", "input types", "static arguments", "device", "settings")
    diffs = [n for n, a, b in zip(names, key, nearest) if a != b]
    if not diffs:
        return "nothing (hash collision?)"
    out = []
    for n, a, b in zip(names, key, nearest):
        if a != b and n == "input types":  # (avals, positions of weakly typed Python scalars)
            for i, (x, y) in enumerate(zip(a[0], b[0])):
                if x != y:
                    out.append(f"input {i}: {y} -> {x}")
            if a[1] != b[1]:
                out.append(f"Python-scalar inputs: {b[1]} -> {a[1]}")
        elif a != b:
            out.append(f"{n}: {b!r} -> {a!r}")
    return "; ".join(out)


class Lowered:
    """The compiled plan of a jitted function for one input signature.

    ``as_text()`` lists every kernel launch with what it computes; ``kernels``
    has one entry per launch (``.name``, ``.primitives``, ``.strategy``).
    """

    def __init__(self, closed: ClosedJaxpr, executable: Executable):
        self.jaxpr = closed
        self.executable = executable
        self.kernels = _kernel_entries(executable)

    def as_text(self) -> str:
        lines = [f"fconv plan on {self.executable.device.name}: {len(self.kernels)} kernel launches"]
        for i, k in enumerate(self.kernels):
            extra = f"  strategy={k.strategy} ({k.reason})" if k.strategy else ""
            lines.append(f"  [{i}] {k.name}: {' + '.join(k.primitives)}{extra}"
                         + (f"  [{k.note}]" if k.note else ""))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html
        return f"<pre>{html.escape(self.as_text())}</pre>"

    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__  # the plan, in a REPL and a notebook cell alike

    def profile(self, *args, repeats: int = 3, top: int = 15, **kwargs) -> str:
        """Time every launch with OpenCL profiling events (medians of ``repeats`` runs);
        returns a table of the kernels that take longest, grouped by kernel and note.

        Example: ``print(fc.jit(step).lower(*a).profile(*a))``.
        """
        import collections
        import statistics

        import pyopencl as cl
        exe = self.executable
        exe.device.queue.finish()   # the executable's kept buffers must not be shared by two queues at once
        q = cl.CommandQueue(exe.device.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        leaves = [x for x in tree_flatten((args, kwargs))[0]]
        runs = []
        for _ in range(repeats + 1):
            evs: list = []
            exe._memo_last.clear()  # time every launch, weight transforms included
            exe.run(list(self.jaxpr.consts) + leaves, queue=q, events=evs)
            q.finish()
            runs.append([(e.profile.end - e.profile.start) * 1e-6 for e in evs])
        per_launch = [statistics.median(r[i] for r in runs[1:]) for i in range(len(runs[0]))]
        groups: dict = collections.defaultdict(lambda: [0.0, 0])
        for st, t, k in zip(exe.steps, per_launch, self.kernels):
            g = groups[(st.launch.kernel, "+".join(k.primitives))]
            g[0] += t
            g[1] += 1
        total = sum(per_launch)
        lines = [f"{len(per_launch)} launches, {total:.2f} ms of kernel time (median of {repeats})",
                 "   ms      %   count  kernel  [primitives]"]
        for (name, prims), (t, c) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]:
            lines.append(f"{t:7.2f} {100 * t / max(total, 1e-12):5.1f}% {c:6d}  {name}  [{prims}]")
        return "\n".join(lines)


class KernelEntry:
    """One launch of a plan: ``name``, ``primitives`` (IR names it computes), ``strategy`` for convs."""

    def __init__(self, name, primitives, strategy=None, reason="", note=""):
        self.name, self.primitives, self.strategy, self.reason, self.note = (
            name, primitives, strategy, reason, note)

    def __repr__(self):
        return f"KernelEntry({self.name!r}, primitives={self.primitives}, strategy={self.strategy!r})"


def _kernel_entries(exe: Executable) -> list:
    out = []
    for st in exe.steps:
        eqn_prims = exe.step_primitives(st)
        strategy, reason = exe.step_strategy(st)
        out.append(KernelEntry(st.launch.kernel, eqn_prims, strategy, reason, st.launch.note))
    return out


class CallSignature(NamedTuple):
    """What a call of a jitted function is compiled for: everything but the array values.

    ``statics`` are ``(position, value)`` of static positional arguments and
    ``static_kwargs`` ``(name, value)`` of static keywords; ``in_tree`` is the
    structure of the rest, whose leaves have ``avals``.
    """
    n_args: int
    static_idx: tuple
    statics: tuple
    static_kwargs: tuple
    in_tree: Any
    avals: tuple
    weak: tuple  # positions of the leaves that are Python scalars (weakly typed avals)
    device: Any
    settings: tuple

    def key(self, fun) -> tuple:
        """The compile-cache key (the order ``_describe_diff`` names)."""
        return (id(fun), self.in_tree, (self.avals, self.weak), (self.statics, self.static_kwargs),
                self.device.id, self.settings)


class JitWrapped:
    """A jitted function: call it like the original; ``.lower(*args)`` shows the plan."""

    def __init__(self, fun, static_argnums, static_argnames, donate_argnums, precision=None):
        functools.update_wrapper(self, fun, updated=())  # name/doc only: never fun's __dict__
        self.precision = precision
        self.fun = fun
        self.static_argnums, self.static_argnames = _resolve_statics(fun, static_argnums, static_argnames)
        self.donate_argnums = tuple(donate_argnums)
        self._cache: dict = {}
        self.trace_count = 0

    def __repr__(self) -> str:
        name = getattr(self.fun, "__qualname__", None) or repr(self.fun)
        statics = f", static_argnums={self.static_argnums}" if self.static_argnums else ""
        return f"<jit({name}){statics}: {len(self._cache)} compiled signature(s)>"

    def _donated_positions(self, sig: CallSignature, n_consts: int) -> tuple:
        """Positions (in the executable's argument list) of the leaves of donated arguments."""
        if not self.donate_argnums:
            return ()
        n = sig.n_args
        donate = {i % n for i in self.donate_argnums if -n <= i < n}
        dyn = [i for i in range(n) if i not in sig.static_idx]
        positional = tree_unflatten(sig.in_tree, list(range(len(sig.avals))))[0]
        out: list = []
        for i, leaves in zip(dyn, positional):
            if i in donate:
                out += [n_consts + j for j in tree_flatten(leaves)[0]]
        return tuple(out)

    def _split(self, args, kwargs):
        n = len(args)
        static_idx = tuple(sorted(i % n for i in self.static_argnums if -n <= i < n))
        statics = []
        for i in static_idx:
            v = args[i]
            try:
                hash(v)
            except TypeError:
                raise TypeError(f"jit: static argument {i} of {self.fun.__name__} is unhashable "
                                f"({type(v).__name__}); static arguments must be hashable") from None
            statics.append((i, v))
        skw = {}
        dkw = {}
        for k, v in kwargs.items():
            if k in self.static_argnames:
                try:
                    hash(v)
                except TypeError:
                    raise TypeError(f"jit: static argument {k!r} of {self.fun.__name__} is unhashable") from None
                skw[k] = v
            else:
                dkw[k] = v
        dyn = [a for i, a in enumerate(args) if i not in static_idx]
        return static_idx, tuple(statics), tuple(sorted(skw.items())), dyn, dkw

    def _prepare(self, args, kwargs) -> tuple[CallSignature, list] | None:
        """The call's signature and its array leaves (None under an outer trace)."""
        if not self.static_argnums and not self.static_argnames:
            static_idx, statics, skw, dyn, dkw = (), (), (), args, kwargs
        else:
            static_idx, statics, skw, dyn, dkw = self._split(args, kwargs)
        flat, in_tree = tree_flatten((dyn, dkw))
        leaves = []
        weak: tuple = ()
        device = None
        for x in flat:
            if type(x) is Array:
                device = device or x.device
                leaves.append(x)
            elif isinstance(x, Tracer):
                return None
            elif isinstance(x, (np.ndarray, float, int, np.generic, bool)):
                if isinstance(x, (float, int, bool)):  # a Python scalar traces weakly typed, as in JAX
                    weak += (len(leaves),)
                leaves.append(from_host(x, op="jit"))
            else:  # name the leaf: its argument (original position or keyword) and its path in it
                from ..tree_util import keystr, tree_leaves_with_path
                path = tree_leaves_with_path((dyn, dkw))[len(leaves)][0]
                pos = [i for i in range(len(args)) if i not in static_idx]
                arg = (pos[path[1].idx] if path[1].idx < len(pos) else path[1].idx) if path[0].idx == 0 \
                    else path[1].key
                raise TypeError(f"jit: argument {arg}" + (f"'s leaf {keystr(path[2:])}" if path[2:] else "")
                                + f" is a {type(x).__name__}, not an array; mark it static "
                                "(static_argnums/static_argnames) or close over it")
        device = device or default_device()
        settings = _settings() if self.precision is None else (
            (("precision", self.precision),) + _settings()[1:])
        avals = tuple(x.aval for x in leaves)
        if weak:
            avals = tuple(ShapedArray((), a.dtype, weak_type=True) if i in weak else a
                          for i, a in enumerate(avals))
        sig = CallSignature(len(args), static_idx, statics, skw, in_tree, avals, weak, device, settings)
        return sig, leaves

    def _compile(self, sig: CallSignature):
        if self.precision is not None and config.get_precision() != self.precision:
            with config.precision_scope(self.precision):
                return self._compile(sig)
        key = sig.key(self.fun)
        t0 = time.perf_counter()
        store = {}

        def flat_fun(*tracers):
            dyn, dkw = tree_unflatten(sig.in_tree, list(tracers))
            full, it = [], iter(dyn)
            sd = dict(sig.statics)
            for i in range(sig.n_args):
                full.append(sd[i] if i in sd else next(it))
            out = self.fun(*full, **dkw, **dict(sig.static_kwargs))
            out_flat, store["tree"] = tree_flatten(out)
            for o in out_flat:
                if not isinstance(o, (Array, Tracer)):
                    raise TypeError(f"jit: {self.fun.__name__} returned a {type(o).__name__}; "
                                    "jitted functions return arrays (or pytrees of arrays)")
            return out_flat

        self.trace_count += 1
        with _compile_notice(self.fun.__name__):
            return self._trace_and_build(sig, key, flat_fun, store, t0)

    def _trace_and_build(self, sig: CallSignature, key: tuple, flat_fun, store: dict, t0: float):
        jaxpr, consts = trace_to_jaxpr(flat_fun, list(sig.avals))
        t1 = time.perf_counter()
        from ..runtime import programs
        from .passes import optimize
        before = dict(programs.stats), dict(programs.seconds)
        jaxpr = optimize(jaxpr)
        t_opt = time.perf_counter()
        exe = Executable(jaxpr, sig.device, donated=self._donated_positions(sig, len(consts)),
                         own_intermediates=True)
        t2 = time.perf_counter()
        entry = (ClosedJaxpr(jaxpr, consts, sig.in_tree, store["tree"]), exe)
        if config.enabled("FCONV_LOG_COMPILES"):
            nearest = min(self._cache, key=lambda k: sum(a != b for a, b in zip(k, key)), default=None)
            why = "first call" if nearest is None else "cache miss: " + _describe_diff(key, nearest)
            n = {k: programs.stats[k] - before[0][k] for k in programs.stats}
            sec = {k: programs.seconds[k] - before[1][k] for k in programs.seconds}
            _log(f"{self.fun.__name__}: traced in {1e3 * (t1 - t0):.1f} ms, compiled "
                 f"{exe.n_launches} launches in {1e3 * (t2 - t1):.1f} ms ({why}): passes "
                 f"{1e3 * (t_opt - t1):.1f} ms; programs built {n['built_from_source']} "
                 f"({sec['build']:.2f} s of builds, {programs.build_pool.parallel_builds()} at once), "
                 f"loaded from disk {n['loaded_from_disk']} ({1e3 * sec['load']:.1f} ms), "
                 f"in memory {n['memory_hits']}")
        self._cache[key] = entry
        return entry

    def _entry(self, sig: CallSignature):
        entry = self._cache.get(sig.key(self.fun))
        return entry if entry is not None else self._compile(sig)

    def __call__(self, *args, **kwargs):
        prep = self._prepare(args, kwargs)
        if prep is None:
            # under an outer transform, trace through (the outer jit/grad sees the primitives)
            if self.precision is not None:
                with config.precision_scope(self.precision):
                    return self.fun(*args, **kwargs)
            return self.fun(*args, **kwargs)
        sig, leaves = prep
        closed, exe = self._entry(sig)
        outs = exe.run(closed.consts + leaves if closed.consts else leaves)
        return tree_unflatten(closed.out_tree, outs)

    def lower(self, *args, **kwargs) -> Lowered:
        prep = self._prepare(args, kwargs)
        if prep is None:
            raise TypeError("jit(...).lower: arguments must be concrete arrays, not tracers")
        return Lowered(*self._entry(prep[0]))


NOTICE_AFTER_S = 2.0


@contextlib.contextmanager
def _compile_notice(name: str):
    """Say on stderr that a compile is under way once it has taken ``NOTICE_AFTER_S`` seconds,
    and when it ends, so a first call of 20-40 s does not look like a hang. On when stderr is a
    terminal (``FCONV_COMPILE_NOTICE=1``: always, ``0``: never); ``FCONV_LOG_COMPILES=1`` logs
    every compile instead."""
    setting = config.flag("FCONV_COMPILE_NOTICE")
    tty = getattr(sys.stderr, "isatty", lambda: False)()
    if setting == "0" or config.enabled("FCONV_LOG_COMPILES") or (setting != "1" and not tty):
        yield
        return
    t0 = time.perf_counter()
    said = threading.Event()

    def say():
        said.set()
        print(f"[fconv] compiling {name} for a new input signature (kernels build once, then the "
              "disk cache serves them)...", file=sys.stderr, flush=True)
    timer = threading.Timer(NOTICE_AFTER_S, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if said.is_set():
            print(f"[fconv] compiled {name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def _resolve_statics(fun, argnums: tuple, argnames: tuple) -> tuple[tuple, tuple]:
    """Static positions and names, each completed from the other through ``fun``'s signature
    (as JAX does): ``static_argnames="training"`` also makes a positional ``training`` static."""
    argnums, argnames = tuple(argnums), tuple(argnames)
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return argnums, argnames
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    nums, names = list(argnums), list(argnames)
    for i in argnums:
        if -len(positional) <= i < len(positional):
            p = positional[i]
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in names:
                names.append(p.name)
    for n in argnames:
        idx = [k for k, p in enumerate(positional) if p.name == n]
        if idx and idx[0] not in nums and idx[0] - len(positional) not in nums:
            nums.append(idx[0])
    return tuple(nums), tuple(names)


def _settings() -> tuple:
    return config.code_settings()


def jit(fun: Callable, static_argnums: int | Sequence[int] = (), static_argnames: str | Sequence[str] = (),
        donate_argnums: int | Sequence[int] = (), precision: str | None = None) -> JitWrapped:
    """Compile ``fun`` to a replayed sequence of OpenCL kernels (once per input signature).

    ``precision`` ("tf32", "highest", ...) plans every conv and matmul of ``fun``
    that does not name its own as ``fc.default_precision(precision)`` would; e.g.
    ``jit(step, precision="tf32")`` runs them on the tensor cores where the device has them.

    Example::

        step = fc.jit(lambda p, x: fnp.sum(lax.conv2d(x, p["w"]) ** 2))
        step(params, x)        # traces and compiles
        step(params, x)        # replays
        print(step.lower(params, x).as_text())
    """
    as_tuple = lambda v: (v,) if isinstance(v, (int, str)) else tuple(v)  # noqa: E731
    config.check_precision("jit", precision)
    return JitWrapped(fun, as_tuple(static_argnums), as_tuple(static_argnames), as_tuple(donate_argnums),
                      precision)

