"""Executables: a jaxpr lowered to a flat list of kernel launches, replayed per call.

``Executable(jaxpr, device)`` lowers each equation with its primitive's
lowering rule (a :class:`~fconv.runtime.launch.KernelPlan`), builds every
program once, and keeps per launch the kernel object and an argument template.
A call allocates outputs and temporaries from the device's pool, fills the
buffer and scalar slots and enqueues. Eager execution is the one-equation case.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyopencl as cl

from .. import config
from ..core.jaxpr import Jaxpr, Literal
from ..runtime.array import Array
from ..runtime.execute import get_kernel, prefetch_kernel
from ..runtime.launch import Alias, Buf, Scalar
from ..runtime.limits import check_array, check_bytes
from ..runtime.transfer import to_device


@dataclass(frozen=True)
class LowerCtx:
    """What a lowering rule sees: the device, avals, params and operand references.

    ``ins[i]`` is a ``Buf`` (an array operand) or a ``Scalar`` (a literal operand);
    ``outs[j]`` is a ``Buf``; ``temp(tag)`` names a fresh temporary. Frozen: a rule that
    lowers another primitive on its behalf (jit's fused epilogues) makes a changed copy
    with ``dataclasses.replace(ctx, prim=..., ins=..., outs=...)``.
    """
    device: Any
    prim: Any
    params: dict
    avals_in: list
    avals_out: list
    ins: list
    outs: list
    prefix: str

    def temp(self, tag: str) -> str:
        return f"{self.prefix}.{tag}"


# A launch's arguments, by kind: where each comes from on every call.
@dataclass(frozen=True)
class BufferArg:
    """Argument ``index`` is the buffer in slot ``slot`` of the call's buffer list."""
    index: int
    slot: int


@dataclass(frozen=True)
class LiteralArg:
    """Argument ``index`` is literal number ``literal`` of the call, as ``dtype``."""
    index: int
    literal: int
    dtype: np.dtype


@dataclass(frozen=True)
class ValueArg:
    """Argument ``index`` is a fixed value (a size, a stride), set once at compile time."""
    index: int
    value: Any


@dataclass(frozen=True)
class SlotOutput:
    """A program output: the buffer in ``slot``, an array of ``aval``."""
    slot: int
    aval: Any


@dataclass(frozen=True)
class LiteralOutput:
    """A program output that is a literal of the program (copied to the device per call)."""
    value: Any


class _Step:
    __slots__ = ("kernel", "gsize", "lsize", "args", "buffer_args", "literal_args", "launch", "eqn_index")

    def __init__(self, kernel, gsize, lsize, args: list, launch, eqn_index):
        self.kernel, self.gsize, self.lsize = kernel, gsize, lsize
        self.args = tuple(args)
        self.buffer_args = tuple(a for a in args if isinstance(a, BufferArg))
        self.literal_args = tuple(a for a in args if isinstance(a, LiteralArg))
        self.launch, self.eqn_index = launch, eqn_index


def _check_sizes(jaxpr: Jaxpr, device) -> None:
    """Every array of the program fits the device (``fconv.runtime.limits``): raised before
    anything is built or run."""
    for v in jaxpr.constvars + jaxpr.invars:
        check_array("jit", v.aval.shape, v.aval.dtype, device)
    for e in jaxpr.eqns:
        for v in e.out_binders:
            check_array(e.primitive.name, v.aval.shape, v.aval.dtype, device)


class Executable:
    """A compiled jaxpr for one device.

    Literal operands are scalar slots: their compile-time values are used unless
    ``run(..., literal_values=...)`` gives others (eager dispatch shares one
    executable between ``x * 0.5`` and ``x * 0.25``).
    """

    def __init__(self, jaxpr: Jaxpr, device, donated: tuple = (), own_intermediates: bool = False):
        self.jaxpr = jaxpr
        # jit: intermediates are buffers of this executable, planned by liveness, made on the
        # first call and bound to their kernel arguments once; a call then sets only the
        # inputs and outputs. Eager one-equation executables draw theirs from the pool.
        self.own_intermediates = own_intermediates
        self.donated = tuple(donated)  # positions in run()'s args whose buffers outputs may take
        self.device = device
        self.steps: list[_Step] = []
        self.plans: list = []  # (eqn, KernelPlan | Alias) for inspection
        names: dict = {}
        self._slot: dict[str, int] = {}  # buffer name -> slot index in the per-call buffer list
        self._slot_avals: list = []
        self._literal_slots: list = []  # (name, dtype)
        self._alias_of: dict = {}  # var name -> name whose buffer it shares
        self._temps: dict = {}
        self._zeroed: dict[int, int] = {}  # slot -> bytes of a kept, zero-initialised buffer

        def name_of(v):
            if v not in names:
                names[v] = f"v{len(names)}"
            return names[v]

        _check_sizes(jaxpr, device)
        self.in_names = [name_of(v) for v in jaxpr.constvars + jaxpr.invars]
        for n, v in zip(self.in_names, jaxpr.constvars + jaxpr.invars):
            self._new_slot(n, v.aval)
        lit_count = 0
        programs_of: list = []   # per step: its program (text, options), when prefetched
        for k, e in enumerate(jaxpr.eqns):
            ins: list[Buf | Scalar] = []
            for x in e.inputs:
                if isinstance(x, Literal):
                    sname = f"lit{lit_count}"
                    lit_count += 1
                    ins.append(Scalar(sname, x.aval.dtype))
                    self._literal_slots.append((sname, x.val))
                else:
                    ins.append(Buf(self._resolve(name_of(x))))
            outs = [Buf(name_of(v)) for v in e.out_binders]
            ctx = LowerCtx(device, e.primitive, e.params, [x.aval for x in e.inputs],
                           [v.aval for v in e.out_binders], ins, outs, prefix=f"e{k}")
            if e.primitive.lowering is None:
                raise NotImplementedError(f"{e.primitive.name}: no OpenCL lowering")
            plan = e.primitive.lowering(ctx, **e.params)
            self.plans.append((e, plan))
            if isinstance(plan, Alias):
                self._alias_of[outs[plan.out].name] = ins[plan.inp].name
                continue
            for o, v in zip(outs, e.out_binders):
                self._new_slot(o.name, v.aval)
            for tname, nbytes in plan.temps.items():
                check_bytes(e.primitive.name, f"a temporary ({tname.split('.')[-1]})", int(nbytes), device)
                self._temps[tname] = nbytes
                self._new_slot(tname, None)
            for zname, nbytes in plan.zeroed.items():
                self._new_slot(zname, None)
                self._zeroed[self._slot[zname]] = int(nbytes)
            for launch in plan.launches:
                if any(g == 0 for g in launch.global_size):
                    continue
                # jit: built in the background while lowering goes on
                programs_of.append(prefetch_kernel(device.context, launch) if own_intermediates else None)
                args: list = []
                for i, a in enumerate(launch.args):
                    if isinstance(a, Buf):
                        args.append(BufferArg(i, self._slot[self._resolve(a.name)]))
                    elif isinstance(a, Scalar):
                        args.append(LiteralArg(i, [n for n, _ in self._literal_slots].index(a.name), a.dtype))
                    else:
                        args.append(ValueArg(i, a))
                self.steps.append(_Step(None, tuple(launch.global_size),
                                        None if launch.local_size is None else tuple(launch.local_size),
                                        args, launch, k))
        for st, program in zip(self.steps, programs_of):
            st.kernel = get_kernel(device.context, st.launch, program)
        self.out_refs: list[LiteralOutput | SlotOutput] = []
        for v in jaxpr.outvars:
            if isinstance(v, Literal):
                self.out_refs.append(LiteralOutput(v.val))
            else:
                self.out_refs.append(SlotOutput(self._slot[self._resolve(name_of(v))], v.aval))
        self._n_inputs = len(self.in_names)
        self._n_consts = len(jaxpr.constvars)
        self._donated_set = frozenset(self.donated)
        self._static_literals = [val for _, val in self._literal_slots]
        self._plan_memo()
        for slot, nbytes in self._zeroed.items():
            self._persist[slot] = cl.Buffer(device.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                                            hostbuf=np.zeros(max(nbytes, 1), np.uint8))
        self._plan_liveness()
        self._plan_owned()
        self._prepare_static()

    def _plan_memo(self):
        """Launches whose results depend only on program inputs (weight transforms): keep their
        outputs in buffers of this executable and rerun them only for new input arrays."""
        self._memo: dict[int, tuple[list[int], list[int]]] = {}  # step -> (input slots, output slots)
        self._persist: dict[int, Any] = {}  # slot -> persistent buffer (made on first use)
        for n, st in enumerate(self.steps):
            outs = set(st.launch.pure_outputs)
            if not outs:
                continue
            in_slots: list[int] = []
            out_slots: list[int] = []
            for b in st.buffer_args:
                (out_slots if st.launch.args[b.index].name in outs else in_slots).append(b.slot)
            if all(s < self._n_inputs for s in in_slots) and all(
                    s >= self._n_inputs and self._slot_avals[s] is None for s in out_slots):
                self._memo[n] = (in_slots, out_slots)
                for s in out_slots:
                    self._persist[s] = None
        self._memo_last: dict = {}

    @property
    def reuse_buffers(self) -> bool:
        """False under ``FCONV_NO_BUFFER_REUSE=1`` (for measuring what reuse saves)."""
        return not config.enabled("FCONV_NO_BUFFER_REUSE")

    def _plan_liveness(self):
        """Allocate each intermediate just before its first launch and drop it after its last,
        so the pool hands its memory to later intermediates (the queue is in order)."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for i, st in enumerate(self.steps):
            for b in st.buffer_args:
                first.setdefault(b.slot, i)
                last[b.slot] = i
        keep = {ref.slot for ref in self.out_refs if isinstance(ref, SlotOutput)}
        self._keep = keep
        n = len(self.steps)
        self._alloc_at: list[list[int]] = [[] for _ in range(n)]
        self._free_at: list[list[int]] = [[] for _ in range(n)]
        self._alloc_upfront: list[int] = []
        for slot in range(self._n_inputs, len(self._slot_avals)):
            if slot in self._persist:
                continue
            if slot not in first:
                self._alloc_upfront.append(slot)
                continue
            self._alloc_at[first[slot]].append(slot)
            if slot not in keep and self.reuse_buffers:
                self._free_at[last[slot]].append(slot)
        self._sizes = [max(a.nbytes, 1) if a is not None else 0 for a in self._slot_avals]
        for name, nbytes in self._temps.items():
            self._sizes[self._slot[name]] = max(int(nbytes), 1)
        # donation: an output first written after the last read of a donated input of the same
        # size takes that input's buffer instead of a new one (the queue is in order)
        self._take: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # step -> [(out slot, donated slot)]
        taken: set[int] = set()
        for d in self.donated:
            last_read = last.get(d, -1)
            for slot in sorted(keep, key=lambda s: first.get(s, -1)):
                if slot in taken or slot < self._n_inputs or slot not in first:
                    continue
                same = self._slot_avals[slot] == self._slot_avals[d]
                in_place = first[slot] == last_read and same and self._in_place_ok(self.steps[last_read], slot, d)
                if same and (first[slot] > last_read or in_place):
                    self._alloc_at[first[slot]].remove(slot)
                    self._take[first[slot]].append((slot, d))
                    taken.add(slot)
                    break
        self._first_take = min((i for i in range(n) if self._take[i]), default=-1)

    def _plan_owned(self) -> None:
        """With ``own_intermediates``: which intermediates share a buffer (greedy by first use;
        a buffer is free again after its slot's last launch, the queue being in order), and
        per launch the buffer arguments still set per call (inputs, outputs, donations)."""
        self._owned_of: dict[int, int] = {}   # slot -> index into self._owned_sizes
        self._owned_sizes: list[int] = []
        self._owned: list | None = None       # the buffers, made on the first call
        self._bound = False
        self._literals_bound = False
        if not self.own_intermediates:
            self._dynamic_args = [st.buffer_args for st in self.steps]
            return
        freed: list[int] = []                 # owned buffers free for reuse
        for n in range(len(self.steps)):
            for slot in list(self._alloc_at[n]):
                if slot in self._keep:
                    continue
                need = self._sizes[slot]
                fits = [b for b in freed if self._owned_sizes[b] >= need]
                if fits and self.reuse_buffers:
                    b = min(fits, key=lambda b: self._owned_sizes[b])
                    freed.remove(b)
                else:
                    b = len(self._owned_sizes)
                    self._owned_sizes.append(need)
                self._owned_of[slot] = b
                self._alloc_at[n].remove(slot)
            for slot in self._free_at[n]:
                if slot in self._owned_of:
                    freed.append(self._owned_of[slot])
            self._free_at[n] = [s for s in self._free_at[n] if s not in self._owned_of]
        static = set(self._owned_of) | set(self._persist)
        self._dynamic_args = [tuple(b for b in st.buffer_args if b.slot not in static) for st in self.steps]

    def _bind_owned(self, bufs: list) -> None:
        """Make the owned buffers and set every argument that never changes (once)."""
        if self._owned is None:
            self._owned = [cl.Buffer(self.device.context, cl.mem_flags.READ_WRITE, max(n, 1))
                           for n in self._owned_sizes]
        for slot, b in self._owned_of.items():
            bufs[slot] = self._owned[b]
        if not self._bound:
            for st in self.steps:
                for a in st.buffer_args:
                    if a.slot in self._owned_of or a.slot in self._persist:
                        st.kernel.set_arg(a.index, bufs[a.slot])
            self._bound = True

    @staticmethod
    def _in_place_ok(step, out_slot: int, in_slot: int) -> bool:
        """Whether ``step`` may write ``out_slot`` into ``in_slot``'s buffer: each element is
        read and written by one work-item only (within one group of a horizontal merge)."""
        if step.launch.elementwise:
            return True
        for group in step.launch.elementwise_groups:
            slots = {b.slot for b in step.buffer_args if b.index in group}
            if out_slot in slots and in_slot in slots:
                return True
        return False

    def _resolve(self, name):
        while name in self._alias_of:
            name = self._alias_of[name]
        return name

    def _new_slot(self, name, aval):
        self._slot[name] = len(self._slot_avals)
        self._slot_avals.append(aval)

    def _prepare_static(self):
        # set value arguments once; buffer/literal arguments are set per call
        for st in self.steps:
            for a in st.args:
                if isinstance(a, ValueArg):
                    st.kernel.set_arg(a.index, a.value)

    def step_primitives(self, step) -> list:
        """Names of the IR primitives a launch computes."""
        if step.launch.primitives:
            return list(step.launch.primitives)
        e = self.jaxpr.eqns[step.eqn_index]
        body = e.params.get("body")   # fused groups, reductions, horizontal merges: their members
        return list(body.primitives) if hasattr(body, "primitives") else [e.primitive.name]

    def step_strategy(self, step) -> tuple:
        """(strategy, reason) of the convolution a launch belongs to, else (None, "")."""
        plan = self.plans[step.eqn_index][1]
        info = getattr(plan, "info", {}) or {}
        return info.get("strategy"), info.get("reason", "")

    @property
    def owned_bytes(self) -> int:
        """Device memory the executable keeps for its intermediates (``own_intermediates``)."""
        return sum(self._owned_sizes)

    @property
    def n_launches(self) -> int:
        return len(self.steps)

    def run(self, args: list, literal_values: list | None = None, queue=None, events: list | None = None) -> list:
        """Run on device arrays ``args`` (consts then inputs); returns output Arrays.

        ``queue``/``events``: enqueue on another queue of the device's context (a profiling
        one) and collect each launch's event (see ``Lowered.profile``). Safe to call from
        several threads: the replay holds the device's ``launch_lock``.
        """
        for i, a in enumerate(args):
            if a.buffer is None:
                raise RuntimeError(f"argument {i} of a jitted call was deleted: it was donated to an "
                                   "earlier call (donate_argnums); pass the new value instead")
        if self.donated:
            self._check_donation(args)
        with self.device.launch_lock:
            if queue is not None and queue is not self.device.queue and self.own_intermediates:
                # the kept buffers are reused by every call: one queue at a time
                self.device.queue.finish()
                try:
                    return self._replay(args, literal_values, queue, events)
                finally:
                    queue.finish()
            return self._replay(args, literal_values, queue, events)

    def _check_donation(self, args: list) -> None:
        """A buffer donated twice, or donated and also passed again, would be overwritten while
        still read: refused, as JAX does."""
        donated: dict[int, int] = {}
        for d in self.donated:
            prev = donated.setdefault(id(args[d].buffer), d)
            if prev != d:
                raise ValueError(f"jit: the same array is donated twice (arguments {prev - self._n_consts} "
                                 f"and {d - self._n_consts} of the call's array leaves, "
                                 f"{args[d].aval.str_short()}); donate distinct arrays")
        for i, a in enumerate(args):
            d = donated.get(id(a.buffer))
            if d is not None and d != i and i not in self._donated_set:
                raise ValueError(f"jit: an array passed as leaf {i - self._n_consts} is also donated as "
                                 f"leaf {d - self._n_consts} ({a.aval.str_short()}); donating it would "
                                 "overwrite it while it is read: pass a copy or do not donate it")

    def _replay(self, args: list, literal_values, queue, events) -> list:
        dev = self.device
        bufs = [None] * len(self._slot_avals)
        for i, a in enumerate(args):
            bufs[i] = a.buffer
        alloc = dev.pool.allocate
        sizes = self._sizes
        for i in self._alloc_upfront:
            bufs[i] = alloc(sizes[i])
        for i, b in self._persist.items():
            if b is None:
                b = self._persist[i] = cl.Buffer(dev.context, cl.mem_flags.READ_WRITE, sizes[i])
                self._bound = False   # a new kept buffer: bind it
            bufs[i] = b
        static_lits = False
        if self.own_intermediates:
            self._bind_owned(bufs)
            # the program's own literals are kernel arguments that never change: set once
            if literal_values is None:
                if not self._literals_bound:
                    for st in self.steps:
                        for li in st.literal_args:
                            st.kernel.set_arg(li.index, np.asarray(self._static_literals[li.literal],
                                                                   dtype=li.dtype)[()])
                    self._literals_bound = True
                static_lits = True
            else:
                self._literals_bound = False
        dynamic = self._dynamic_args
        memo, memo_last = self._memo, self._memo_last
        lits = self._static_literals if literal_values is None else literal_values
        queue = queue or dev.queue
        alloc_at, free_at, take = self._alloc_at, self._free_at, self._take
        first_take = self._first_take
        for n, st in enumerate(self.steps):
            for i in alloc_at[n]:
                bufs[i] = alloc(sizes[i])
            for i, d in take[n]:
                bufs[i] = bufs[d]
            if n == first_take:
                # deleted before the launch that overwrites them: an interrupt from here on
                # leaves them deleted, never alive with changed contents
                for d in self.donated:
                    args[d].buffer = None
            ins = None
            if n in memo:
                ins = [args[s] for s in memo[n][0]]
                last = memo_last.get(n)
                if last is not None and all(a is b for a, b in zip(ins, last)):
                    continue  # same input arrays (immutable) as last call: results still valid
                memo_last.pop(n, None)   # invalid until this launch is enqueued
            k = st.kernel
            for b in dynamic[n]:
                k.set_arg(b.index, bufs[b.slot])
            if not static_lits:
                for li in st.literal_args:
                    k.set_arg(li.index, np.asarray(lits[li.literal], dtype=li.dtype)[()])
            ev = cl.enqueue_nd_range_kernel(queue, k, st.gsize, st.lsize)
            if ins is not None:
                memo_last[n] = ins
            if events is not None:
                events.append(ev)
            for i in free_at[n]:
                bufs[i] = None
        outs = []
        for ref in self.out_refs:
            if isinstance(ref, LiteralOutput):
                outs.append(to_device(np.asarray(ref.value), dev))
            else:
                outs.append(Array(bufs[ref.slot], ref.aval, dev))
        for d in self.donated:  # donated arrays are deleted, as in JAX
            args[d].buffer = None
        return outs
