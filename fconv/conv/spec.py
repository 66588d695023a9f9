"""ConvSpec: the fully normalised, validated description of one 2-D convolution.

Every conv strategy (and the planner) works from a :class:`ConvSpec`, never
from raw user arguments. The spec always describes a *forward* convolution

    y[n, o, oh, ow] = sum_{c, kh, kw} x[n, g*CG + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw]
                                      * w[o, c, kh, kw],      g = o // OG

with ``x: (N, C, H, W)``, ``w: (O, C // groups, KH, KW)``, ``y: (N, O, OH, OW)``
(PyTorch layouts). Its backward-data (``dx`` from ``dy``) and
backward-weights (``dw`` from ``x`` and ``dy``) are described by the same
spec. A ``conv_transpose2d`` is the backward-data of the forward conv that
:meth:`ConvSpec.from_conv_transpose2d` returns.

Example::

    s = ConvSpec.from_conv2d((2, 8, 32, 32), (16, 8, 3, 3), padding="SAME")
    s.OH, s.OW        # (32, 32)
    s.defines()       # ("-D CV_N=2", "-D CV_C=8", ...)
    s.roles("backward_data").names   # ("dy", "w", "dx"): its buffer roles
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

# direction -> (its two input roles, its output role): the one table of buffer roles
ROLES = {"forward": (("x", "w"), "y"),
         "backward_data": (("dy", "w"), "dx"),
         "backward_weights": (("x", "dy"), "dw")}
DIRECTIONS = tuple(ROLES)


@dataclass(frozen=True)
class Roles:
    """One direction of a conv: its buffer roles, their shapes, and the direction as a GEMM.

    ``inputs``/``output`` are role names (``x w y``, ``dy w dx``, ``x dy dw``);
    ``shapes`` maps each role to its shape; ``gemm`` is (M, N, K) per group of the
    direction computed as an implicit GEMM: forward (OG, N*OH*OW, CG*KH*KW),
    backward_data (CG, N*H*W, OG*KH*KW), backward_weights (OG, CG*KH*KW, N*OH*OW).
    """
    direction: str
    inputs: tuple[str, str]
    output: str
    shapes: tuple[tuple[str, tuple[int, int, int, int]], ...]
    gemm: tuple[int, int, int]

    @property
    def names(self) -> tuple[str, str, str]:
        """The roles in argument order: both inputs, then the output."""
        return (*self.inputs, self.output)

    def shape(self, role: str) -> tuple[int, int, int, int]:
        return dict(self.shapes)[role]


def check_direction(direction: str) -> None:
    """ValueError unless ``direction`` is one of :data:`DIRECTIONS`."""
    if direction not in ROLES:
        raise ValueError(f"unknown conv direction {direction!r}; expected one of {DIRECTIONS}")


def _ctx(op: str, x_shape, w_shape) -> str:
    return f"{op}: x shape {tuple(x_shape)}, w shape {tuple(w_shape)}"


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def int_pair(value, name: str, ctx: str, minimum: int) -> tuple[int, int]:
    """int or pair of ints -> pair, each >= minimum."""
    if is_int(value):
        vals = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        vals = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{ctx}: {name} must be an int or a pair of ints, got {value!r}")
    if min(vals) < minimum:
        raise ValueError(f"{ctx}: {name} must be >= {minimum}, got {value!r}")
    return vals


def normalize_padding(padding, name: str, ctx: str, sizes: tuple[int, int],
                      window: tuple[int, int], stride: tuple[int, int],
                      dilation: tuple[int, int] = (1, 1),
                      allow_crop: bool = False,
                      allow_negative: bool = False) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding in any accepted form -> ``((top, bottom), (left, right))``.

    Forms: int; pair ``(ph, pw)`` (symmetric per axis); pair of pairs
    ``((top, bottom), (left, right))``; ``"SAME"`` (JAX/TF: output size
    ``ceil(size / stride)``, total pad ``max((ceil(H/s)-1)*s + (K-1)*d + 1 - H, 0)``,
    the odd element at the bottom/right); ``"SAME_LOWER"`` (the same total, the odd
    element at the top/left, as JAX); ``"VALID"`` (no padding). Strings are
    case-insensitive, so PyTorch's ``"same"``/``"valid"`` mean the same (with a
    stride > 1, where PyTorch refuses ``"same"``, this is JAX's ``"SAME"``).
    Raises TypeError for a malformed value, ValueError for a negative pad
    (with ``allow_crop`` a negative bottom/right pad is accepted: it crops; with
    ``allow_negative`` any pad may be negative, JAX's cropping).
    """
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return ((0, 0), (0, 0))
        if mode in ("SAME", "SAME_LOWER"):
            out = []
            for size, k, s, d in zip(sizes, window, stride, dilation):
                total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
                small, big = total // 2, total - total // 2
                out.append((small, big) if mode == "SAME" else (big, small))
            return (out[0], out[1])
        raise ValueError(f"{ctx}: {name} string must be 'SAME', 'SAME_LOWER' or 'VALID', got {padding!r}")
    if is_int(padding):
        p = int(padding)
        pads = ((p, p), (p, p))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(is_int(v) for v in padding):
            pads = ((int(padding[0]),) * 2, (int(padding[1]),) * 2)
        elif all(isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(u) for u in v)
                 for v in padding):
            pads = ((int(padding[0][0]), int(padding[0][1])),
                    (int(padding[1][0]), int(padding[1][1])))
        else:
            raise TypeError(f"{ctx}: {name} must be an int, a pair, a pair of pairs, "
                            f"'SAME' or 'VALID', got {padding!r}")
    elif isinstance(padding, (tuple, list)) and len(padding) == 1 and is_int(padding[0]):
        raise TypeError(f"{ctx}: {name}={padding!r} has one element; a 2-D op takes {name}="
                        f"{int(padding[0])} (the same on both axes) or a pair (ph, pw)")
    else:
        raise TypeError(f"{ctx}: {name} must be an int, a pair, a pair of pairs, "
                        f"'SAME', 'SAME_LOWER' or 'VALID', got {padding!r}")
    if not allow_negative and min((pads[0][0], pads[1][0]) if allow_crop else pads[0] + pads[1]) < 0:
        raise ValueError(f"{ctx}: {name} must be non-negative, got {padding!r}")
    return pads


def _shape(shape, name: str, ctx: str) -> tuple[int, ...]:
    try:
        t = tuple(shape)
    except TypeError as e:
        raise TypeError(f"{ctx}: {name} must be a shape tuple, got {shape!r}") from e
    if not all(is_int(v) for v in t):
        raise TypeError(f"{ctx}: {name} must contain ints, got {shape!r}")
    if len(t) != 4:
        raise ValueError(f"{ctx}: {name} must be 4-D, got {len(t)}-D shape {t}")
    if min(t) < 1:
        raise ValueError(f"{ctx}: {name} must have positive dimensions, got {t}")
    return tuple(int(v) for v in t)


@dataclass(frozen=True)
class ConvSpec:
    """A forward 2-D convolution, normalised.

    x: (N, C, H, W); w: (O, C // groups, KH, KW); y: (N, O, OH, OW).
    stride (sh, sw), padding ((pt, pb), (pl, pr)), dilation (dh, dw).
    A spec built by :meth:`from_conv_transpose2d` may have a negative bottom
    or right padding (it then crops that many rows/columns of x); every
    other pad is >= 0.
    """
    N: int
    C: int
    H: int
    W: int
    O: int
    KH: int
    KW: int
    stride: tuple[int, int] = (1, 1)
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    op: str = "conv2d"

    # ---- derived sizes -------------------------------------------------
    @property
    def OH(self) -> int:
        (pt, pb), _ = self.padding
        return (self.H + pt + pb - (self.KH - 1) * self.dilation[0] - 1) // self.stride[0] + 1

    @property
    def OW(self) -> int:
        _, (pl, pr) = self.padding
        return (self.W + pl + pr - (self.KW - 1) * self.dilation[1] - 1) // self.stride[1] + 1

    @property
    def CG(self) -> int:
        """Input channels per group."""
        return self.C // self.groups

    @property
    def OG(self) -> int:
        """Output channels per group."""
        return self.O // self.groups

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.O, self.CG, self.KH, self.KW)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.O, self.OH, self.OW)

    def roles(self, direction: str) -> Roles:
        """The buffer roles, their shapes and the GEMM sizes of ``direction`` (see :class:`Roles`).

        Example: ``spec.roles("backward_data").names == ("dy", "w", "dx")``.
        """
        check_direction(direction)
        ins, out = ROLES[direction]
        of = {"x": self.x_shape, "dx": self.x_shape, "w": self.w_shape, "dw": self.w_shape,
              "y": self.y_shape, "dy": self.y_shape}
        taps = self.KH * self.KW
        gemm = {"forward": (self.OG, self.N * self.OH * self.OW, self.CG * taps),
                "backward_data": (self.CG, self.N * self.H * self.W, self.OG * taps),
                "backward_weights": (self.OG, self.CG * taps, self.N * self.OH * self.OW)}[direction]
        return Roles(direction, ins, out, tuple((r, of[r]) for r in (*ins, out)), gemm)

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the forward conv (the same for each direction)."""
        return 2 * self.N * self.O * self.OH * self.OW * self.CG * self.KH * self.KW

    # ---- constructors --------------------------------------------------
    @classmethod
    def from_conv2d(cls, x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1,
                    op: str = "conv2d", allow_crop: bool = False) -> "ConvSpec":
        """Validate and normalise ``conv2d`` arguments.

        x_shape (N, C, H, W), w_shape (O, C // groups, KH, KW). Raises
        TypeError (non-int values, malformed arguments) or ValueError (wrong
        ndim, channel mismatch, groups not dividing C or O, negative padding,
        stride/dilation < 1, kernel larger than the padded input), the
        message naming ``op``, the argument and both shapes.
        ``allow_crop=True`` accepts a negative bottom/right pad (as produced by
        :meth:`from_conv_transpose2d`; rebuild such a spec from its params with it).
        """
        ctx = _ctx(op, x_shape, w_shape)
        xs = _shape(x_shape, "x", ctx)
        ws = _shape(w_shape, "w", ctx)
        st = int_pair(stride, "stride", ctx, 1)
        dl = int_pair(dilation, "dilation", ctx, 1)
        if not is_int(groups):
            raise TypeError(f"{ctx}: groups must be an int, got {groups!r}")
        groups = int(groups)
        if groups < 1:
            raise ValueError(f"{ctx}: groups must be >= 1, got {groups}")
        N, C, H, W = xs
        O, CGw, KH, KW = ws
        if C % groups:
            raise ValueError(f"{ctx}: groups={groups} does not divide the {C} input channels")
        if O % groups:
            raise ValueError(f"{ctx}: groups={groups} does not divide the {O} output channels")
        if CGw * groups != C:
            raise ValueError(f"{ctx}: channel mismatch: x has {C} channels but w.shape[1] * groups "
                             f"= {CGw} * {groups} = {CGw * groups}")
        pad = normalize_padding(padding, "padding", ctx, (H, W), (KH, KW), st, dl, allow_crop)
        spec = cls(N, C, H, W, O, KH, KW, st, pad, dl, groups, op)
        spec._check_output(ctx)
        return spec

    @classmethod
    def from_conv_transpose2d(cls, x_shape, w_shape, stride=1, padding=0, output_padding=0,
                              dilation=1, groups=1, op: str = "conv_transpose2d") -> "ConvSpec":
        """The forward conv whose backward-data is this ``conv_transpose2d``.

        PyTorch semantics: x_shape (N, Cin, H, W), w_shape (Cin, Cout // groups, KH, KW),
        output (N, Cout, Hout, Wout) with
        ``Hout = (H - 1)*sh - pt - pb + dh*(KH - 1) + output_padding_h + 1``
        (``padding`` may be int, pair or pair of pairs; no 'SAME'/'VALID').
        The returned spec has ``x_shape == (N, Cout, Hout, Wout)`` (the
        transpose's output is the forward conv's input), ``w_shape == w_shape``
        (O = Cin) and ``y_shape == x_shape`` of the transpose (its input is
        the forward conv's dy). ``output_padding`` must be < max(stride, dilation)
        per axis, as PyTorch requires.
        """
        ctx = _ctx(op, x_shape, w_shape)
        xs = _shape(x_shape, "x", ctx)
        ws = _shape(w_shape, "w", ctx)
        st = int_pair(stride, "stride", ctx, 1)
        dl = int_pair(dilation, "dilation", ctx, 1)
        op_ = int_pair(output_padding, "output_padding", ctx, 0)
        if isinstance(padding, str):
            raise TypeError(f"{ctx}: padding must be an int, a pair or a pair of pairs for "
                            f"{op}, got {padding!r}")
        pad = normalize_padding(padding, "padding", ctx, (1, 1), (1, 1), st, dl)
        if not is_int(groups):
            raise TypeError(f"{ctx}: groups must be an int, got {groups!r}")
        groups = int(groups)
        if groups < 1:
            raise ValueError(f"{ctx}: groups must be >= 1, got {groups}")
        N, Cin, H, W = xs
        Cin_w, OGw, KH, KW = ws
        if Cin != Cin_w:
            raise ValueError(f"{ctx}: channel mismatch: x has {Cin} channels but w.shape[0] = {Cin_w}")
        if Cin % groups:
            raise ValueError(f"{ctx}: groups={groups} does not divide the {Cin} input channels")
        for a in range(2):
            if op_[a] >= max(st[a], dl[a]):
                raise ValueError(f"{ctx}: output_padding {output_padding!r} must be smaller than "
                                 f"max(stride, dilation) = {max(st[a], dl[a])} on axis {a}")
        Cout = OGw * groups
        k = (KH, KW)
        size = (H, W)
        out = []
        fwd_pad = []
        for a in range(2):
            (p0, p1) = pad[a]
            full = (size[a] - 1) * st[a] + dl[a] * (k[a] - 1) + 1
            o = full - p0 - p1 + op_[a]
            if o < 1:
                raise ValueError(f"{ctx}: padding {padding!r} leaves an empty output "
                                 f"(size {o} on axis {a})")
            out.append(o)
            # Forward conv on an input of size o with pads (p0, q): any q in
            # [p1 - op, p1 - op + s - 1] gives exactly `size` outputs; take the
            # largest (>= 0 unless output_padding > p1 + s - 1).
            fwd_pad.append((p0, p1 - op_[a] + st[a] - 1))
        spec = cls(N, Cout, out[0], out[1], Cin, KH, KW, st, (fwd_pad[0], fwd_pad[1]), dl,
                   groups, op)
        if (spec.OH, spec.OW) != (H, W):  # pragma: no cover - guarded by the arithmetic above
            raise AssertionError(f"{ctx}: internal error deriving the forward conv {spec}")
        return spec

    def _check_output(self, ctx: str) -> None:
        (pt, pb), (pl, pr) = self.padding
        for name, size, p0, p1, k, d in (("height", self.H, pt, pb, self.KH, self.dilation[0]),
                                         ("width", self.W, pl, pr, self.KW, self.dilation[1])):
            eff = (k - 1) * d + 1
            if size + p0 + p1 < eff:
                raise ValueError(
                    f"{ctx}: kernel {name} {eff} (with dilation {d}) is larger than the padded "
                    f"input {name} {size + p0 + p1} (padding {self.padding})")

    # ---- kernels -------------------------------------------------------
    def defines(self) -> tuple[str, ...]:
        """``-D`` build options with every shape constant (prefixed ``CV_``).

        CV_N CV_C CV_H CV_W CV_O CV_KH CV_KW CV_SH CV_SW CV_PT CV_PL CV_DH CV_DW
        CV_G CV_CG CV_OG CV_OH CV_OW (bottom/right pads are implied by OH/OW).
        """
        (pt, _), (pl, _) = self.padding
        vals = dict(N=self.N, C=self.C, H=self.H, W=self.W, O=self.O, KH=self.KH, KW=self.KW,
                    SH=self.stride[0], SW=self.stride[1], PT=pt, PL=pl,
                    DH=self.dilation[0], DW=self.dilation[1], G=self.groups, CG=self.CG,
                    OG=self.OG, OH=self.OH, OW=self.OW)
        return tuple(f"-D CV_{k}={v}" for k, v in vals.items())
