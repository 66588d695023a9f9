from .api import grad, make_jaxpr, value_and_grad, vjp  # noqa: F401
