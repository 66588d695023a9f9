"""CIFAR-style ResNet (He et al., "Deep Residual Learning", section 4.2): depth ``6n + 2``.

Layout for x ``(N, in_channels, H, W)`` (32x32 for CIFAR), ``w = width``::

    stem:     conv 3x3, w channels, no bias -> batch norm -> relu           (N, w, H, W)
    stage 1:  n basic blocks, w channels, stride 1                          (N, w, H, W)
    stage 2:  n basic blocks, 2w channels, the first with stride 2          (N, 2w, H/2, W/2)
    stage 3:  n basic blocks, 4w channels, the first with stride 2          (N, 4w, H/4, W/4)
    head:     global average pool -> linear num_classes                     (N, num_classes)

A basic block is ``relu(bn(conv3x3(relu(bn(conv3x3(x, stride))))) + shortcut(x))``; the
shortcut is the identity, or — where the shape changes — a 1x1 stride-2 convolution
without bias followed by batch norm (torchvision's ``downsample``). Convolutions
before batch norm have no bias. depth 8 (n = 1), 14, 20 (n = 3), 32, 44, 56, 110.

``params`` and ``state`` are nested dicts/lists of arrays (``state`` holds the batch-norm
running statistics); ``apply`` is pure and returns the new state.

Example::

    import fconv as fc
    from fconv import nn, random
    from fconv.models import resnet
    params, state = resnet.init(random.PRNGKey(0), depth=8)

    def loss_fn(params, state, x, y):
        logits, state = resnet.apply(params, state, x, training=True)
        return nn.cross_entropy(logits, y), state

    (loss, state), grads = fc.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
"""
from __future__ import annotations

from .. import nn, random

__all__ = ["init", "apply", "num_blocks"]


def num_blocks(depth: int) -> int:
    """Blocks per stage ``n`` for ``depth = 6n + 2``."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet: depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, ...), got {depth!r}")
    return (depth - 2) // 6


def _init_block(key, cin, cout, stride, dtype):
    k1, k2, k3 = random.split(key, 3)
    p1, s1 = nn.init_batch_norm(cout, dtype)
    p2, s2 = nn.init_batch_norm(cout, dtype)
    params = {"conv1": nn.init_conv2d(k1, cin, cout, 3, bias=False, dtype=dtype), "bn1": p1,
              "conv2": nn.init_conv2d(k2, cout, cout, 3, bias=False, dtype=dtype), "bn2": p2}
    state = {"bn1": s1, "bn2": s2}
    if stride != 1 or cin != cout:
        ps, ss = nn.init_batch_norm(cout, dtype)
        params["shortcut"] = {"conv": nn.init_conv2d(k3, cin, cout, 1, bias=False, dtype=dtype),
                              "bn": ps}
        state["shortcut"] = {"bn": ss}
    return params, state


def init(key, depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16,
         dtype="float32"):
    """``(params, state)`` of a CIFAR ResNet-``depth``: params
    ``{"stem": {"conv", "bn"}, "stages": [[block, ...] x 3], "fc": {"w", "b"}}``, state the
    matching batch-norm running statistics. Deterministic given ``key``."""
    n = num_blocks(depth)
    k_stem, k_fc, k_stages = random.split(key, 3)
    bn_p, bn_s = nn.init_batch_norm(width, dtype)
    params = {"stem": {"conv": nn.init_conv2d(k_stem, in_channels, width, 3, bias=False, dtype=dtype),
                       "bn": bn_p},
              "stages": []}
    state = {"stem": {"bn": bn_s}, "stages": []}
    cin = width
    stage_keys = random.split(k_stages, 3)
    for s in range(3):
        cout = width * 2 ** s
        block_keys = random.split(stage_keys[s], n)
        ps, ss = [], []
        for b in range(n):
            stride = 2 if (s > 0 and b == 0) else 1
            bp, bs = _init_block(block_keys[b], cin, cout, stride, dtype)
            ps.append(bp)
            ss.append(bs)
            cin = cout
        params["stages"].append(ps)
        state["stages"].append(ss)
    params["fc"] = nn.init_linear(k_fc, cin, num_classes, dtype=dtype)
    return params, state


def _block(p, s, x, stride, training):
    h = nn.conv2d(p["conv1"], x, stride=stride, padding=1)
    h, s1 = nn.batch_norm(p["bn1"], s["bn1"], h, training=training)
    h = nn.relu(h)
    h = nn.conv2d(p["conv2"], h, padding=1)
    h, s2 = nn.batch_norm(p["bn2"], s["bn2"], h, training=training)
    new_s = {"bn1": s1, "bn2": s2}
    if "shortcut" in p:
        sc = nn.conv2d(p["shortcut"]["conv"], x, stride=stride)
        sc, ss = nn.batch_norm(p["shortcut"]["bn"], s["shortcut"]["bn"], sc, training=training)
        new_s["shortcut"] = {"bn": ss}
    else:
        sc = x
    return nn.relu(h + sc), new_s


def apply(params, state, x, training: bool):
    """``(logits (N, num_classes), new_state)`` for x ``(N, in_channels, H, W)``. With
    ``training=True`` batch norm uses batch statistics and updates the running ones;
    with ``False`` it uses the running statistics and ``new_state`` equals ``state``.
    ``training`` is a Python bool (static under ``jit``)."""
    h = nn.conv2d(params["stem"]["conv"], x, padding=1)
    h, stem_s = nn.batch_norm(params["stem"]["bn"], state["stem"]["bn"], h, training=training)
    h = nn.relu(h)
    new_state = {"stem": {"bn": stem_s}, "stages": []}
    for si, (ps, ss) in enumerate(zip(params["stages"], state["stages"])):
        out_s = []
        for bi, (bp, bs) in enumerate(zip(ps, ss)):
            stride = 2 if (si > 0 and bi == 0) else 1
            h, b_s = _block(bp, bs, h, stride, training)
            out_s.append(b_s)
        new_state["stages"].append(out_s)
    logits = nn.linear(params["fc"], nn.global_avg_pool2d(h))
    return logits, new_state
