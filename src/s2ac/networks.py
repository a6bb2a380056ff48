"""Networks shared by all algorithms: an MLP over any leading batch shape and the twin critics, a vmapped
ensemble of MLPs so that both Q-functions run as one batched program."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
}


def get_activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name``, or a ``ValueError`` naming the known ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class MLP(eqx.Module):
    """A multilayer perceptron applied over the last axis of inputs of any leading shape.

    ``compute_dtype`` (e.g. ``jnp.bfloat16``) runs the matrix products in lower precision with float32
    accumulation and output; ``None`` keeps the inputs' precision.
    """

    weights: list[Array]
    biases: list[Array]
    activation: str = eqx.field(static=True)
    compute_dtype: jnp.dtype | None = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, hidden: Sequence[int], *, key: Array,
                 activation: str = "relu", compute_dtype: jnp.dtype | None = None):
        get_activation(activation)
        sizes = [in_size, *hidden, out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        # eqx.nn.Linear's initialisation (uniform, fan-in scaled), stored as plain arrays so that the
        # forward pass is one matmul per layer over the whole batch.
        layers = [eqx.nn.Linear(i, o, key=k) for i, o, k in zip(sizes[:-1], sizes[1:], keys, strict=True)]
        self.weights = [layer.weight.T for layer in layers]
        self.biases = [layer.bias for layer in layers]
        self.activation = activation
        self.compute_dtype = compute_dtype

    def __call__(self, x: Array) -> Array:
        act = get_activation(self.activation)
        out_dtype = x.dtype
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if self.compute_dtype is not None:
                x = jnp.matmul(x.astype(self.compute_dtype), w.astype(self.compute_dtype),
                               preferred_element_type=jnp.float32).astype(out_dtype) + b
            else:
                x = x @ w + b
            if i < len(self.weights) - 1:
                x = act(x)
        return x


class TwinCritic(eqx.Module):
    """``n`` independent Q-networks ``Q_k(s, a)`` with stacked parameters, evaluated in one vmapped call."""

    ensemble: MLP

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], *, key: Array,
                 activation: str = "relu", num_critics: int = 2, compute_dtype: jnp.dtype | None = None):
        keys = jax.random.split(key, num_critics)
        self.ensemble = eqx.filter_vmap(
            lambda k: MLP(obs_dim + action_dim, 1, hidden, key=k, activation=activation,
                          compute_dtype=compute_dtype))(keys)

    def __call__(self, obs: Array, action: Array) -> Array:
        """Q-values of every critic, shape ``(num_critics, *batch)``; ``obs`` broadcasts against ``action``."""
        obs = jnp.broadcast_to(obs, (*action.shape[:-1], obs.shape[-1]))
        x = jnp.concatenate([obs, action], axis=-1)
        return eqx.filter_vmap(lambda mlp: mlp(x)[..., 0])(self.ensemble)

    def min_q(self, obs: Array, action: Array) -> Array:
        """``min_k Q_k(s, a)``, shape ``batch``: the pessimistic value used by every actor and target."""
        return jnp.min(self(obs, action), axis=0)
