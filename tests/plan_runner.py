"""Running a strategy's KernelPlan on host arrays (shared by the kernel-level tests)."""
from __future__ import annotations

import numpy as np
import pyopencl as cl

from fconv.runtime.execute import run_plan

NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
_QUEUES: dict = {}


def queue_of(target) -> cl.CommandQueue:
    """``target`` itself when it is a queue; else an in-order queue on a fconv Device's context."""
    if isinstance(target, cl.CommandQueue):
        return target
    key = target.context.int_ptr
    if key not in _QUEUES:
        _QUEUES[key] = (target.context, cl.CommandQueue(target.context))  # the queue needs its context alive
    return _QUEUES[key][1]


def run_arrays(target, plan, inputs: dict, out: str, out_shape, dtype: str) -> np.ndarray:
    """Run ``plan`` with host arrays ``inputs`` (name -> array) on ``target`` (a queue or a
    fconv Device); return buffer ``out`` (pre-filled with NaN, so unwritten elements show) as float64."""
    q = queue_of(target)
    mf = cl.mem_flags
    bufs = {k: cl.Buffer(q.context, mf.READ_WRITE | mf.COPY_HOST_PTR,
                         hostbuf=np.ascontiguousarray(v, NP_DT[dtype])) for k, v in inputs.items()}
    res = np.full(out_shape, np.nan, NP_DT[dtype])
    bufs[out] = cl.Buffer(q.context, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=res)
    run_plan(q, plan, bufs)
    cl.enqueue_copy(q, res, bufs[out])
    q.finish()
    return res.astype(np.float64)


def run_direction(target, plan, spec, direction: str, x, w, dy, dtype: str, kw: dict) -> tuple:
    """(got, want): one conv direction's plan run on host arrays, and the float64 reference."""
    import reference as ref
    if direction == "forward":
        return (run_arrays(target, plan, {"x": x, "w": w}, "y", spec.y_shape, dtype),
                ref.conv2d(x, w, None, **kw))
    if direction == "backward_data":
        return (run_arrays(target, plan, {"dy": dy, "w": w}, "dx", spec.x_shape, dtype),
                ref.conv2d_backward_data(dy, w, spec.x_shape, **kw))
    return (run_arrays(target, plan, {"x": x, "dy": dy}, "dw", spec.w_shape, dtype),
            ref.conv2d_backward_weights(x, dy, spec.w_shape, **kw))
