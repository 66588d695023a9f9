"""Dtypes: NumPy dtype <-> OpenCL C types, promotion, build options.

fconv knows five dtypes: float32 (the default), float16 (storage only: kernels
compute in float32), float64 (where the device has cl_khr_fp64), int32, bool
(stored as one byte).
"""
from __future__ import annotations

import numpy as np

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
bool_ = np.dtype("bool")

SUPPORTED = (float16, float32, float64, int32, bool_)
FLOATS = (float16, float32, float64)

# storage C type, arithmetic C type, short name for IR printing
_C_STORAGE = {float16: "half", float32: "float", float64: "double", int32: "int", bool_: "uchar"}
_C_COMPUTE = {float16: "float", float32: "float", float64: "double", int32: "int", bool_: "int"}
_SHORT = {float16: "f16", float32: "f32", float64: "f64", int32: "i32", bool_: "bool"}
_DEFINE: dict[np.dtype, str] = {float16: "-D FCONV_F16", float32: "-D FCONV_F32", float64: "-D FCONV_F64"}


def canonicalize(dtype, op: str = "fconv", arg: str = "dtype") -> np.dtype:
    """The fconv dtype for ``dtype`` (a name, NumPy dtype or type), or a TypeError.

    64-bit integers become int32 and Python floats float32, as in JAX.
    """
    if dtype is None:
        return float32
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{op}: {arg}={dtype!r} is not a dtype") from e
    if d == np.dtype("int64") or d == np.dtype("uint32") or d == np.dtype("int16") or d == np.dtype("int8") \
            or d == np.dtype("uint8") or d == np.dtype("uint64"):
        return int32
    if d not in SUPPORTED:
        raise TypeError(f"{op}: {arg}={d} is not supported; fconv supports "
                        + ", ".join(str(s) for s in SUPPORTED))
    return d


def is_float(dtype) -> bool:
    return np.dtype(dtype) in FLOATS


def c_storage(dtype) -> str:
    """OpenCL C type of buffer elements (``half`` for float16, ``uchar`` for bool)."""
    return _C_STORAGE[np.dtype(dtype)]


def c_compute(dtype) -> str:
    """OpenCL C type arithmetic happens in (``float`` for float16)."""
    return _C_COMPUTE[np.dtype(dtype)]


def short_name(dtype) -> str:
    """``f32``, ``f16``, ``f64``, ``i32``, ``bool`` — as in the IR listing."""
    return _SHORT[np.dtype(dtype)]


def float_define(dtype, op: str = "fconv") -> str:
    """The common.cl option selecting a floating dtype (``-D FCONV_F32`` ...)."""
    d = np.dtype(dtype)
    if d not in _DEFINE:
        raise TypeError(f"{op}: dtype {d} is not a floating dtype (float16, float32, float64)")
    return _DEFINE[d]


def float_name(dtype) -> str:
    """``"float32"`` / ``"float64"`` / ``"float16"`` for a floating dtype-like (a name,
    NumPy dtype or type); TypeError for anything else.

    Example: ``float_name(np.float16) == "float16"``.
    """
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unsupported dtype {dtype!r}") from e
    if d not in _DEFINE:
        raise TypeError(f"unsupported dtype {d.name!r}: these kernels take float32, float64 or float16")
    return d.name


def dtype_of_define(option: str) -> np.dtype:
    """The floating dtype a :func:`float_define` option selects (``"-D FCONV_F16"`` -> float16)."""
    return {v: k for k, v in _DEFINE.items()}[option]


def itemsize(dtype) -> int:
    """Bytes of one stored element of ``dtype`` (2 for float16, 1 for bool)."""
    return np.dtype(dtype).itemsize


def compute_itemsize(dtype) -> int:
    """Bytes of one element of the type ``dtype`` computes in (:func:`c_compute`): kernels'
    ``real`` temporaries and accumulators (4 for float16, whose arithmetic is float)."""
    return {"float": 4, "double": 8, "int": 4}[_C_COMPUTE[np.dtype(dtype)]]


_FAMILY = {float16: "F16", float32: "F32", float64: "F64", int32: "I32", bool_: "BOOL"}


def storage_define(dtype) -> str:
    """The common.cl storage family of any fconv dtype (``-D FCONV_I32``, ``-D FCONV_F16`` ...)."""
    return f"-D FCONV_{_FAMILY[np.dtype(dtype)]}"


def out_define(dtype) -> str:
    """The common.cl option storing a kernel's output as ``dtype`` when it differs from
    the input's (``-D FCONV_OUT_F16`` ...; see kernels/common.cl)."""
    return f"-D FCONV_OUT_{_FAMILY[np.dtype(dtype)]}"


def result_type(*dtypes) -> np.dtype:
    """Promotion of array dtypes (NumPy's lattice restricted to fconv's dtypes)."""
    ds = [np.dtype(d) for d in dtypes]
    floats = [d for d in ds if d in FLOATS]
    if floats:  # like JAX: an int or bool array meeting a float array takes the float's dtype
        return max(floats, key=lambda d: d.itemsize)
    if int32 in ds:
        return int32
    return bool_


def scalar_dtype(value) -> np.dtype:
    """Dtype a Python scalar takes on its own (weakly typed)."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    if isinstance(value, (float, np.floating)):
        return float32
    raise TypeError(f"{type(value).__name__} is not a scalar")


def weak_result_type(array_dtype, scalar) -> np.dtype:
    """Dtype of ``array <op> python_scalar``: the array's, unless the scalar is of a higher kind
    (a float with an int/bool array gives float32; an int with a bool array gives int32)."""
    return weak_result_dtype(array_dtype, scalar_dtype(scalar))


def weak_result_dtype(array_dtype, weak_dtype) -> np.dtype:
    """Dtype of ``array <op> weak`` where ``weak`` is weakly typed with ``weak_dtype`` (a Python
    scalar, or a jit argument that was one): the array's, unless the weak one is of a higher kind."""
    a, s = np.dtype(array_dtype), np.dtype(weak_dtype)
    kind = {bool_: 0, int32: 1, float16: 2, float32: 2, float64: 2}
    return a if kind[a] >= kind[s] else s
