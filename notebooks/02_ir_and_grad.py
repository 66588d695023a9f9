# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The IR and `grad`
#
# fconv traces a Python function into a small intermediate representation (a
# "jaxpr", as in JAX): typed inputs, one equation per primitive, outputs.
# `fc.grad` transforms that program into its backward program. The gradients of a
# convolution are convolutions themselves — `conv2d_backward_data` (the input
# gradient, a transposed convolution) and `conv2d_backward_weights` — primitives
# that the planner and `jit` treat like any forward convolution.

# %%
import numpy as np

import fconv as fc
import fconv.numpy as fnp
from fconv import lax, nn, random

k1, k2, k3 = random.split(random.PRNGKey(0), 3)
x = random.normal(k1, (4, 3, 8, 8))
params = {"w": random.normal(k2, (8, 3, 3, 3)) * 0.2, "b": fnp.zeros((8,))}


def loss(params, x):
    h = lax.conv2d(x, params["w"], params["b"], padding=1)
    return fnp.mean(nn.relu(h) ** 2)


print(float(loss(params, x)))

# %% [markdown]
# ## The traced forward program

# %%
print(fc.make_jaxpr(loss)(params, x))


# %% [markdown]
# ## The gradient's program
#
# Differentiating with respect to both the parameters and the input brings in both
# backward convolutions:

# %%
def primitive_names(closed_jaxpr):
    return [e.primitive.name for e in closed_jaxpr.eqns]


grad_both = fc.grad(loss, argnums=(0, 1))
jaxpr = fc.make_jaxpr(grad_both)(params, x)
print(jaxpr)

# %%
names = primitive_names(jaxpr)
convs = [n for n in names if n.startswith("conv2d")]
print(f"{len(names)} equations; convolution primitives: {convs}")
assert {"conv2d", "conv2d_backward_data", "conv2d_backward_weights"} <= set(convs)

# %% [markdown]
# With respect to the parameters only, no input gradient is needed, and
# `conv2d_backward_data` disappears:

# %%
print([n for n in primitive_names(fc.make_jaxpr(fc.grad(loss))(params, x)) if n.startswith("conv2d")])

# %% [markdown]
# ## Checking the gradient
#
# A central finite difference along a random direction agrees with the directional
# derivative from `grad`:

# %%
g = fc.grad(loss)(params, x)
rng = np.random.default_rng(0)
d = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
eps = 1e-2


def shifted(s):
    return {k: fnp.asarray(np.asarray(v) + s * d[k]) for k, v in params.items()}


numeric = (float(loss(shifted(eps), x)) - float(loss(shifted(-eps), x))) / (2 * eps)
analytic = sum(float((np.asarray(g[k]) * d[k]).sum()) for k in params)
print(f"finite difference {numeric:.5f}, grad {analytic:.5f}")
assert abs(numeric - analytic) <= 1e-2 * max(1.0, abs(analytic))

# %% [markdown]
# `value_and_grad` returns both at once, and `has_aux=True` carries extra outputs
# through (the pattern of a training step).

# %%
def loss_with_aux(params, x):
    h = nn.relu(lax.conv2d(x, params["w"], params["b"], padding=1))
    return fnp.mean(h ** 2), {"active_fraction": fnp.mean((h > 0).astype("float32"))}


(value, aux), grads = fc.value_and_grad(loss_with_aux, has_aux=True)(params, x)
print(float(value), float(aux["active_fraction"]), {k: v.shape for k, v in grads.items()})

# %% [markdown]
# ## Grad of grad
#
# Transforms compose. For a scalar function the second derivative is `grad(grad(f))`:

# %%
f = lambda t: fnp.tanh(t) * t ** 2
df = fc.grad(f)
d2f = fc.grad(fc.grad(f))
t = 0.7
th = np.tanh(t)
print(float(df(t)), float(d2f(t)))
exact_d2 = 2 * th + 4 * t * (1 - th ** 2) - 2 * t ** 2 * th * (1 - th ** 2)
assert abs(float(d2f(t)) - exact_d2) < 1e-4


# %% [markdown]
# Through a convolution too: the gradient of the squared norm of a gradient (the
# penalty of "gradient-penalty" training) differentiates the backward convolution
# a second time. Its program holds backward convolutions of backward convolutions:

# %%
def input_grad_penalty(params, x):
    gx = fc.grad(loss, argnums=1)(params, x)     # d loss / d x: a conv2d_backward_data
    return fnp.sum(gx ** 2)


gg = fc.grad(input_grad_penalty)(params, x)
print({k: (v.shape, float(fnp.abs(v).max())) for k, v in gg.items()})
names = primitive_names(fc.make_jaxpr(fc.grad(input_grad_penalty))(params, x))
print({n: names.count(n) for n in sorted(set(names)) if n.startswith("conv2d")})

# %% [markdown]
# And the same check by finite differences:

# %%
numeric = (float(input_grad_penalty(shifted(eps), x)) - float(input_grad_penalty(shifted(-eps), x))) / (2 * eps)
analytic = sum(float((np.asarray(gg[k]) * d[k]).sum()) for k in params)
print(f"finite difference {numeric:.6f}, grad of grad {analytic:.6f}")
assert abs(numeric - analytic) <= 2e-2 * max(1e-3, abs(analytic))
