"""The user-facing agent API shared by every algorithm, in the style of Stable-Baselines3:
``Agent(env, seed=0, **config).learn(total_steps)``, ``.predict(obs)``, ``.save(path)``, ``Agent.load(path)``.

An algorithm subclass supplies only its networks (:meth:`init_networks`), its policy (:meth:`policy`) and
its action selection (:meth:`select_actions`); the update steps are :mod:`s2ac.algorithms.actor_critic`'s.
The agent does not know the training loop: the loop (:mod:`s2ac.training`, a layer above) drives any
:class:`s2ac.training.Trainable`, which this class is; :meth:`learn` only hands the agent to it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

import s2ac
from s2ac import checkpoint
from s2ac.algorithms import UnknownAlgorithmError, actor_critic, agent_from_description
from s2ac.algorithms.actor_critic import AgentState, Batch, Optimizers, UpdateSettings
from s2ac.algorithms.config import OffPolicyConfig
from s2ac.envs import ActionScaler, env_name, make_env
from s2ac.networks import TwinCritic
from s2ac.policies import PolicySample


class OffPolicyAgent:
    """An off-policy maximum-entropy actor-critic bound to an environment."""

    name: ClassVar[str]
    config_class: ClassVar[type[OffPolicyConfig]]
    # The losses the divergence guard watches: both are in units of Q (the critic's squared).
    divergence_losses: ClassVar[tuple[str, ...]] = ("critic_loss", "actor_loss")

    def __init__(self, env: str | gym.Env, seed: int = 0, config: OffPolicyConfig | None = None,
                 **overrides: Any):
        """``env``: a Gymnasium id or instance. ``config`` and/or keyword ``overrides`` set hyperparameters
        (the fields of :attr:`config_class`)."""
        config = config if config is not None else self.config_class()
        if not isinstance(config, self.config_class):
            raise ValueError(f"{type(self).__name__} needs a {self.config_class.__name__}, "
                             f"got {type(config).__name__}")
        if overrides:
            config = self.config_class.from_dict({**config.to_dict(), **self.config_class.current_names(overrides)})
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.config = config
        self.seed = seed
        self.env = make_env(env)
        self.env_id = env_name(self.env)
        self.obs_dim = int(self.env.observation_space.shape[0])
        self.action_dim = int(self.env.action_space.shape[0])
        self.scaler = ActionScaler(self.env.action_space)
        self.target_entropy = (-float(self.action_dim) if config.target_entropy is None
                               else float(config.target_entropy))
        self.optimizers = Optimizers(critic=optax.adam(config.critic_lr), actor=optax.adam(config.actor_lr),
                                     alpha=optax.adam(config.alpha_lr), amortized=self._amortized_optimizer())
        self.state = self.init_state(jax.random.PRNGKey(seed))
        self.settings = UpdateSettings(gamma=config.gamma, polyak=config.polyak, target_entropy=self.target_entropy,
                                       autotune_alpha=config.autotune_alpha,
                                       amortized_kernel_variance=getattr(config, "kernel_variance", "half_mean"))
        # filter_jit: the state may hold non-array leaves (flowjax's flows); strings (the mode) are static.
        self.update_fn = eqx.filter_jit(functools.partial(actor_critic.scan_updates, self.update_step))
        self.act_fn = eqx.filter_jit(self.select_actions)
        self._draw_fn = eqx.filter_jit(self.draw_policy)
        self.trainer = None

    # --- what an algorithm defines ---------------------------------------------------------------------
    def init_networks(self, actor_key: Array, sampler_key: Array) -> tuple[eqx.Module | None, eqx.Module | None]:
        """The actor and the amortized sampler (either may be None)."""
        raise NotImplementedError

    def policy(self, actor: eqx.Module | None, critic: TwinCritic, obs: Array, key: Array,
               alpha: Array) -> PolicySample:
        """Actions ``(B, m, d)`` in ``[-1, 1]`` with ``log pi`` ``(B, m)``, differentiable in the actor."""
        raise NotImplementedError

    def select_actions(self, state: AgentState, obs: Array, key: Array, mode: str) -> Array:
        """One action per state ``(B, d)`` in ``[-1, 1]`` for acting; ``mode`` is ``"train"``, ``"eval"``
        or an algorithm's named selection rule."""
        raise NotImplementedError

    def update_step(self, state: AgentState, batch: Batch, key: Array) -> tuple[AgentState, dict[str, Array]]:
        """One pure update; the maximum-entropy actor-critic's unless an algorithm has its own (SQL)."""
        return actor_critic.update(state, batch, key, self.policy, self.optimizers, self.settings)

    def _amortized_optimizer(self) -> optax.GradientTransformation:
        """Adam for the one-pass sampler of the algorithms that have one (their config has ``amortized_lr``)."""
        lr = getattr(self.config, "amortized_lr", None)
        return optax.identity() if lr is None else optax.adam(lr)

    # --- shared machinery ------------------------------------------------------------------------------
    def init_state(self, key: Array) -> AgentState:
        """Fresh networks and optimiser states for ``key``."""
        cfg = self.config
        k_critic, k_actor, k_sampler = jax.random.split(key, 3)
        critic = TwinCritic(self.obs_dim, self.action_dim, cfg.critic_hidden, key=k_critic,
                            activation=cfg.activation, num_critics=cfg.num_critics)
        actor, amortized = self.init_networks(k_actor, k_sampler)
        log_alpha = jnp.log(jnp.asarray(cfg.alpha, jnp.float32))
        opt = self.optimizers

        def init_opt(optimizer: optax.GradientTransformation, params: Any) -> Any:
            return None if params is None else optimizer.init(eqx.filter(params, eqx.is_inexact_array))

        return AgentState(critic=critic, target_critic=critic, critic_opt=init_opt(opt.critic, critic),
                          actor=actor, actor_opt=init_opt(opt.actor, actor), log_alpha=log_alpha,
                          alpha_opt=opt.alpha.init(log_alpha), amortized=amortized,
                          amortized_opt=init_opt(opt.amortized, amortized))

    def learn(self, total_steps: int, run_dir: str | Path | None = None, progress: bool = True,
              callback: Any = None) -> OffPolicyAgent:
        """Train until ``total_steps`` environment steps in all (a second call continues). With ``run_dir``
        the run writes its config, metrics, TensorBoard events and checkpoints there. The same as
        :func:`s2ac.training.learn` on this agent."""
        # The one upward reference, by design: the training layer sits above the agents (docs/architecture.md),
        # and this Stable-Baselines3-style door hands the agent to it when called.
        from s2ac.training.loop import learn

        return learn(self, total_steps, run_dir=run_dir, progress=progress, callback=callback)

    def predict(self, obs: np.ndarray, deterministic: bool = True, mode: str | None = None,
                key: Array | None = None) -> np.ndarray:
        """Actions in the environment's own action box for one observation ``(obs_dim,)`` or a batch
        ``(B, obs_dim)``. ``mode`` overrides the selection rule (``"train"``, ``"eval"`` or an algorithm's
        own, e.g. ``"softmax"`` for S2AC)."""
        obs = self._observations(obs)
        key = jax.random.PRNGKey(np.random.randint(2**31)) if key is None else key
        mode = mode or ("eval" if deterministic else "train")
        actions = np.asarray(self.act_fn(self.state, jnp.atleast_2d(obs), key, mode=mode))
        actions = self.scaler.to_env(actions)
        return actions[0] if obs.ndim == 1 else actions

    def sample(self, obs: np.ndarray, num_samples: int, key: Array) -> tuple[np.ndarray, np.ndarray | None]:
        """``num_samples`` draws of the policy at each state of ``obs`` ``(B, obs_dim)``: actions ``(B, k, d)``
        in ``[-1, 1]`` and their ``log pi`` ``(B, k)`` (None for a sampler without a density, SQL's). What
        the studies measure a policy by (its modes, its entropy), without knowing the algorithm."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        obs = np.atleast_2d(self._observations(obs))
        per_call = self.samples_per_draw
        repeats = -(-num_samples // per_call)
        actions, log_pi = self._draw_fn(self.state, jnp.repeat(jnp.asarray(obs), repeats, axis=0), key)
        actions = np.asarray(actions).reshape(obs.shape[0], repeats * per_call, -1)[:, :num_samples]
        if log_pi is not None:
            log_pi = np.asarray(log_pi).reshape(obs.shape[0], repeats * per_call)[:, :num_samples]
        return actions, log_pi

    @property
    def samples_per_draw(self) -> int:
        """How many actions one :meth:`draw_policy` call gives per state (S2AC: its particles)."""
        return 1

    def draw_policy(self, state: AgentState, obs: Array, key: Array) -> tuple[Array, Array | None]:
        """Pure: ``samples_per_draw`` policy actions per state ``(B, m, d)`` and their ``log pi`` ``(B, m)``."""
        sample = self.policy(state.actor, state.critic, obs, key, state.alpha)
        return sample.actions, sample.log_pi

    @property
    def stochastic_mode(self) -> str:
        """The selection rule (a ``predict`` mode) that samples the policy as the paper's test trajectories do."""
        return "train"

    def initial_distribution(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """A learned initial distribution's mean and standard deviation at ``obs`` ``(B, obs_dim)``, each
        ``(B, d)`` (S2AC(phi, theta)'s ``q_0``); None where the policy has none."""
        return None

    def _observations(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` as float32 ``(obs_dim,)`` or ``(B, obs_dim)``, or a ``ValueError`` saying what is wrong."""
        obs = np.asarray(obs, np.float32)
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.obs_dim:
            raise ValueError(f"observation has shape {obs.shape}; this agent expects ({self.obs_dim},) or "
                             f"(batch, {self.obs_dim})")
        if not np.isfinite(obs).all():
            # A NaN observation would silently give a NaN action; an infinite one, an arbitrary one.
            raise ValueError(f"observation holds non-finite values (NaN or inf) at "
                             f"{np.argwhere(~np.isfinite(obs)).tolist()[:5]}: no action can be selected for it")
        return obs

    def save(self, path: str | Path) -> Path:
        """Write the networks and configuration (not the replay buffer) to ``path`` (``.npz``)."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"cannot save the agent to {path}: it is a directory; give a file name such as "
                             f"{path / 'model.npz'}")
        checkpoint.write_atomically(path, checkpoint.tree_to_arrays(self.state, "state/"), self.describe())
        return path

    def describe(self) -> dict[str, Any]:
        return {"algo": self.name, "env": self.env_id, "seed": self.seed, "config": self.config.to_dict(),
                "obs_dim": self.obs_dim, "action_dim": self.action_dim, "s2ac_version": s2ac.__version__}

    @classmethod
    def load(cls, path: str | Path, env: str | gym.Env | None = None) -> OffPolicyAgent:
        """An agent from a file written by :meth:`save` (or a training checkpoint); ``env`` defaults to
        the one it was trained on."""
        arrays, meta = checkpoint.read(Path(path))
        if cls is not OffPolicyAgent and meta.get("algo") != cls.name:
            raise checkpoint.CheckpointError(f"{path} holds a {meta.get('algo')!r} agent, not {cls.name!r}")
        try:
            agent = agent_from_description(meta, env, cls=None if cls is OffPolicyAgent else cls)
        except UnknownAlgorithmError:
            raise checkpoint.CheckpointError(f"{path} names an unknown algorithm {meta.get('algo')!r}") from None
        agent.state = checkpoint.arrays_to_tree(agent.state, arrays, "state/", path)
        return agent

