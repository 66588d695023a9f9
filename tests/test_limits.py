"""Huge shapes (issue 13): an array past 2**31 - 1 elements or past one device buffer raises a
ValueError/MemoryError naming the operation, the shape and the figures, before any kernel is
built or run — eagerly, under jit and for host data."""
from __future__ import annotations

import numpy as np
import pytest
from test_errors import raises

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.runtime import limits


@pytest.mark.parametrize("operands, make, op, shape", [
    ((), lambda: fnp.zeros((2**31,), np.float32), "broadcast_to", (2**31,)),
    ((), lambda: fnp.ones((2**16, 2**16)), "broadcast_to", (65536, 65536)),
    (((1, 2**20), (2**12, 1)), lambda a, b: a + b, "add", (4096, 1048576)),
    (((2**16, 1), (1, 2**16)), lambda a, b: a @ b, "matmul", (65536, 65536)),
    (((1, 1, 8, 8), (2**14, 1, 3, 3)), lambda x, w: lax.conv2d(x, w, padding=2**13), "conv2d",
     (1, 16384, 16390, 16390)),
    (((2**16,),), lambda a: fc.jit(lambda a: fnp.broadcast_to(a, (2**15, 2**16)) * 2)(a), "", (32768, 65536)),
])
def test_more_elements_than_32_bit_indexing_is_a_value_error(cpu_device, operands, make, op, shape):
    args = [fnp.asarray(np.ones(s, np.float32)) for s in operands]
    msg = raises(ValueError, lambda: make(*args), str(shape), "2**31 - 1", f"{np.prod(shape, dtype=object):,}")
    assert msg.startswith(op), msg


def test_more_bytes_than_one_device_buffer_is_a_memory_error(cpu_device, monkeypatch):
    a = fnp.ones((4, 4))
    monkeypatch.setattr(limits, "max_buffer_bytes", lambda device: 1000)
    raises(MemoryError, lambda: fnp.ones((64, 64)), "(64, 64)", "16,384 bytes", "1,000 bytes", cpu_device.name)
    raises(MemoryError, lambda: fnp.asarray(np.ones((300,), np.float32)), "asarray", "(300,)", "1,200 bytes")
    raises(MemoryError, lambda: fc.jit(lambda x: fnp.broadcast_to(x, (16, 4, 4)) * 2.0)(a), "(16, 4, 4)", "1,024 bytes")
    np.testing.assert_array_equal(np.asarray(a * 2.0), 2 * np.ones((4, 4)))   # small arrays still fine
