"""The unit of execution: one kernel launch, described as plain data.

A primitive's lowering (and every conv strategy) returns a :class:`KernelPlan`:
the temporaries it needs and an ordered list of :class:`Launch` records whose
buffer arguments are *names* (:class:`Buf`). The executable (``fconv.jit``)
binds names to device buffers once at compile time and replays the launches.

Example — a one-launch plan that scales ``x`` into ``y``::

    KernelPlan(launches=[Launch(source="elementwise/scale.cl", kernel="scale",
                                options=("-D FCONV_F32",), global_size=(n,),
                                args=(Buf("x"), Buf("y"), np.float32(2.0)))])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Buf:
    """A buffer argument by name: an operand ("x", "w", "y", ...) or a temp."""
    name: str


@dataclass(frozen=True)
class Scalar:
    """A scalar argument whose value is supplied when the plan runs (a literal operand)."""
    name: str
    dtype: Any  # np.dtype of the value as the kernel takes it


@dataclass(frozen=True)
class Alias:
    """Lowering result of a primitive that needs no kernel: output ``out`` is input ``inp``'s
    buffer reinterpreted (reshape)."""
    out: int = 0
    inp: int = 0


@dataclass(frozen=True)
class GeneratedSource:
    """OpenCL C made by codegen rather than read from ``kernels/``."""
    name: str   # shown in plans, e.g. "fused_add_relu"
    text: str   # full source, may ``#include "common.cl"``


@dataclass(frozen=True)
class Launch:
    """One ``clEnqueueNDRangeKernel``.

    source: kernels-relative path (``"gemm/gemm.cl"``) or a GeneratedSource.
    kernel: the ``__kernel`` function name.
    options: build options, e.g. ``("-D FCONV_F32", "-D MB=8")``.
    global_size / local_size: NDRange (local None lets the runtime choose).
    args: in kernel order; ``Buf`` for buffers, NumPy scalars
      (``np.int32``, ``np.float32``, ...) for values.
    """
    source: Any
    kernel: str
    options: tuple
    global_size: tuple
    local_size: tuple | None
    args: tuple
    note: str = ""   # a human-readable word for plans (e.g. "im2col", "gemm 8x32")
    primitives: tuple = ()  # IR primitives this launch computes, when not just its equation's
    # epilogue hook of a kernel that writes a conv/matmul output: ("gemm", out_arg) for gemm.cl
    # (GEMM_EPILOGUE(v, b, row, col) / GEMM_EPI_PARAMS) or ("conv", out_arg) for a conv kernel
    # that stores y[idx] through CONV_EPILOGUE(v, idx) (idx: y's linear NCHW index) and
    # appends CONV_EPI_PARAMS to its parameters. None: no hook.
    epilogue: tuple | None = None
    # an elementwise kernel over flat operands: element i is read and written by work-item i
    # only, so an output may share a same-shaped input's buffer (donation)
    elementwise: bool = False
    # several elementwise groups in one launch (horizontal fusion): the argument indices of
    # each; an output may share a same-shaped input's buffer only within one group
    elementwise_groups: tuple = ()
    # the temporaries this launch writes, declaring them a pure function of its other buffer
    # arguments (a weight transform): when those are the same arrays as in the previous call
    # of a compiled program, the launch is skipped and its results reused
    pure_outputs: tuple = ()


@dataclass
class KernelPlan:
    """Launches plus the temporaries (name -> bytes) they use.

    ``zeroed``: buffers (name -> bytes) that start as zeros and that the launches leave as
    zeros (a fused reduction's tile counters): made once and kept by the executable.
    """
    launches: list = field(default_factory=list)
    temps: dict = field(default_factory=dict)
    zeroed: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # e.g. {"strategy": ..., "reason": ...} for plans

    def extend(self, other: "KernelPlan") -> "KernelPlan":
        self.launches += other.launches
        for k, v in other.temps.items():
            if k in self.temps and self.temps[k] != v:
                raise ValueError(f"temp {k!r} declared twice with different sizes")
            self.temps[k] = v
        self.zeroed.update(other.zeroed)
        return self
