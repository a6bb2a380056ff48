"""Typed, validated hyperparameters: one frozen dataclass per algorithm, every value in one place
(defaults from docs/math.md section 11, the authors' code)."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from s2ac.networks import ACTIVATIONS
from s2ac.policies.stein import SELECTIONS, SVGDSettings
from s2ac.stein.kernels import check_kernel_variance

# Former names of config fields, still read wherever a config is (saved configs, checkpoints and models, their
# config.json, presets' settings, ``--set``): former name -> field name. Giving both names is an error.
FORMER_NAMES: dict[str, str] = {"bandwidth": "kernel_variance"}


def _require(condition: bool, name: str, message: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"invalid config value {name}={value!r}: {message}")


def _check_kernel_variance(kernel_variance: str | float) -> None:
    try:
        check_kernel_variance(kernel_variance)
    except ValueError as err:
        raise ValueError(f"invalid config value kernel_variance={kernel_variance!r}: {err}") from None


@dataclass(frozen=True)
class OffPolicyConfig:
    """What every off-policy actor-critic here shares: critic, temperature, replay and schedule."""

    gamma: float = 0.99
    polyak: float = 0.995  # target <- polyak * target + (1 - polyak) * online
    critic_lr: float = 1e-3
    actor_lr: float = 1e-3
    critic_hidden: tuple[int, ...] = (256, 256)
    num_critics: int = 2  # min over this many Q-networks in every target and actor loss
    actor_hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "relu"
    alpha: float = 0.2  # fixed temperature, or the initial one when tuned
    autotune_alpha: bool = False
    alpha_lr: float = 3e-4
    target_entropy: float | None = None  # None: -dim(A)
    batch_size: int = 100
    buffer_size: int = 1_000_000
    random_steps: int = 10_000  # uniform random actions before the policy acts
    learning_starts: int = 1_000
    update_every: int = 50  # every this many env steps, this many updates
    eval_every: int = 5_000
    eval_episodes: int = 10
    checkpoint_every: int = 10_000
    # Warn when a loss exceeds this many times the largest |Q| the rewards allow (s2ac.training.health);
    # None: no divergence guard. stop_on_divergence: stop there instead, keeping the last checkpoint.
    divergence_factor: float | None = 10.0
    stop_on_divergence: bool = False

    def __post_init__(self) -> None:
        for name, hint in _field_hints(type(self)).items():
            _check_kind(name, getattr(self, name), hint)
        _require(0.0 <= self.gamma <= 1.0, "gamma", "must lie in [0, 1]", self.gamma)
        _require(0.0 <= self.polyak < 1.0, "polyak", "must lie in [0, 1)", self.polyak)
        for name in ("critic_lr", "actor_lr", "alpha_lr", "alpha"):
            value = getattr(self, name)
            _require(isinstance(value, (int, float)) and value > 0, name, "must be a positive number", value)
        for name in ("critic_hidden", "actor_hidden"):
            value = getattr(self, name)
            _require(isinstance(value, tuple) and len(value) > 0
                     and all(isinstance(h, int) and h > 0 for h in value), name,
                     "must be a non-empty list of positive layer widths", value)
        _require(self.activation in ACTIVATIONS, "activation", f"expected one of {sorted(ACTIVATIONS)}",
                 self.activation)
        for name in ("batch_size", "buffer_size", "update_every", "eval_every", "eval_episodes",
                     "checkpoint_every", "num_critics"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, name, "must be a positive integer", value)
        for name in ("random_steps", "learning_starts"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value >= 0, name, "must be a non-negative integer", value)
        _require(self.buffer_size >= self.batch_size, "buffer_size", "must be at least batch_size",
                 self.buffer_size)
        _require(self.divergence_factor is None or self.divergence_factor > 0, "divergence_factor",
                 "must be a positive number, or null for no divergence guard", self.divergence_factor)
        _require(not self.stop_on_divergence or self.divergence_factor is not None, "stop_on_divergence",
                 "needs a divergence_factor to stop at", self.stop_on_divergence)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_name(cls, key: str) -> str:
        """The field that ``key`` names: ``key`` itself, or the field it is a former name of (:data:`FORMER_NAMES`)."""
        name = FORMER_NAMES.get(key)
        return name if name is not None and name in _field_hints(cls) else key

    @classmethod
    def current_names(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with every key under its field's name (:meth:`field_name`); a ``ValueError`` naming both if
        a field is given under its name and a former one."""
        renamed: dict[str, Any] = {}
        for key, value in values.items():
            name = cls.field_name(key)
            if name != key and name in values:
                raise ValueError(f"config keys {key!r} and {name!r} both given: {key!r} is the former name of "
                                 f"{name!r}; give only {name!r}")
            renamed[name] = value
        return renamed

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> OffPolicyConfig:
        """Build from plain values (JSON), checking that every key is a field of this config (or a former name
        of one, :data:`FORMER_NAMES`)."""
        values = cls.current_names(values)
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown} for {cls.__name__}; valid keys: {sorted(known)}")
        hints = typing.get_type_hints(cls)
        return cls(**{name: _coerce(name, value, hints[name]) for name, value in values.items()})

    def updated(self, values: Mapping[str, Any]) -> OffPolicyConfig:
        """This config with ``values`` (plain values, under field names or former names) in place of its own."""
        return type(self).from_dict({**self.to_dict(), **type(self).current_names(values)})

    def with_overrides(self, assignments: list[str]) -> OffPolicyConfig:
        """Apply ``key=value`` strings (the command line's ``--set``) in order; values are JSON, or bare strings;
        a key may be a field's former name (:data:`FORMER_NAMES`)."""
        values: dict[str, Any] = {}
        for item in assignments:
            if "=" not in item:
                raise ValueError(f"--set expects key=value, got {item!r}")
            key, raw = item.split("=", 1)
            key = self.field_name(key.strip())
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError:
                values[key] = raw
        return self.updated(values)


def _describe(hint: Any) -> str:
    """A type hint in the command line's words: ``a float, 'step_size' or null``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is Literal:
        return " or ".join(repr(arg) for arg in args)
    if origin is tuple:
        return f"a list of {_describe(args[0])}"
    return "null" if hint is type(None) else f"a {getattr(hint, '__name__', hint)}"


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def _check_kind(name: str, value: Any, hint: Any) -> None:
    """The checks every field gets from its type, whoever built the config (``from_dict`` coerces JSON, but
    a direct ``SACConfig(...)`` does not): numbers finite, no ``True`` for a number (Python counts bools as
    ints), a bool for a flag."""
    origin, args = get_origin(hint), get_args(hint)
    kinds = [a for a in args if a is not type(None)] if origin in (typing.Union, types.UnionType) else [hint]
    if value is None:
        return  # the field's own check says whether None is allowed
    if isinstance(value, bool):
        _require(bool in kinds, name, "must be a number, not true/false", value)
    elif bool in kinds and len(kinds) == 1:
        _require(False, name, "must be true or false", value)
    elif isinstance(value, float):
        _require(math.isfinite(value), name, "must be a finite number", value)
    elif isinstance(value, tuple):
        _require(not any(isinstance(item, bool) for item in value), name, "must hold numbers, not true/false",
                 value)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Turn a JSON value into the field's type (lists into tuples, ints into floats), or explain."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arg)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if len(errors) == 1 else
                         f"invalid config value {name}={value!r}: expected {_describe(hint)}")
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(_coerce(name, v, args[0]) for v in value)
    if origin is Literal:
        _require(value in args, name, f"expected one of {list(args)}", value)
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, bool, str) and type(value) is hint:
        return value
    raise ValueError(f"invalid config value {name}={value!r}: expected {getattr(hint, '__name__', hint)}")


@dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """Soft Actor-Critic with a tanh-squashed Gaussian policy and, by default, a tuned temperature."""

    autotune_alpha: bool = True


@dataclass(frozen=True)
class SACNFConfig(SACConfig):
    """SAC whose policy is a tanh-squashed, state-conditioned normalizing flow (a masked autoregressive
    flow from flowjax) on the Gaussian ``N(mu(s), sigma(s)^2)``."""

    flow_layers: int = 2
    flow_width: int = 64
    flow_depth: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("flow_layers", "flow_width", "flow_depth"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, name, "must be a positive integer", value)


@dataclass(frozen=True)
class SQLConfig(OffPolicyConfig):
    """Soft Q-Learning (Haarnoja et al. 2017): one soft Q-network (``num_critics=1``) trained toward an
    importance-sampled soft value, and an amortized sampler trained along the Stein direction toward
    ``exp(Q / alpha)``; ``alpha`` is the temperature (the inverse reward scale), fixed. SQL has no actor
    network: ``actor_lr``, ``actor_hidden`` and ``target_entropy`` are unused."""

    num_critics: int = 1
    value_samples: int = 50  # M uniform actions for the soft value
    num_particles: int = 16  # samples of the sampler per state for its SVGD update
    kernel_variance: str | float = "median"  # the Stein direction's kernel variance sigma^2 or a heuristic (as S2AC's)
    amortized_lr: float = 1e-3
    amortized_hidden: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(not self.autotune_alpha, "autotune_alpha", "SQL's entropy is implicit: its temperature is fixed",
                 self.autotune_alpha)
        _require(isinstance(self.value_samples, int) and self.value_samples > 0, "value_samples",
                 "must be a positive integer", self.value_samples)
        _require(isinstance(self.num_particles, int) and self.num_particles >= 2, "num_particles",
                 "the Stein direction needs at least 2 particles per state", self.num_particles)
        _check_kernel_variance(self.kernel_variance)
        _require(self.amortized_lr > 0, "amortized_lr", "must be positive", self.amortized_lr)


S2ACVariant = Literal["phi", "phi_theta", "amortized"]


@dataclass(frozen=True)
class S2ACConfig(OffPolicyConfig):
    """Stein Soft Actor-Critic. ``variant``: ``"phi"`` (SVGD from a fixed Gaussian, critic only),
    ``"phi_theta"`` (learned initial Gaussian) or ``"amortized"`` (``phi_theta`` plus a one-pass sampler
    ``f_psi`` for action selection)."""

    activation: str = "elu"
    # The temperature is tuned toward -dim(A) on the closed-form entropy, as SAC's: the paper fixes it, but on a
    # task nobody tuned it for (InvertedDoublePendulum-v5) a fixed 0.2 let the particles settle in tanh's flat
    # tail and S2AC stopped learning (README "Stability", measured over 3 seeds each way).
    autotune_alpha: bool = True
    variant: S2ACVariant = "phi_theta"
    num_particles: int = 10
    svgd_steps: int = 3
    svgd_step_size: float = 0.1
    # The stability options (README "Stability"): each keeps one assumption of Proposition 3.2 true.
    svgd_max_move: float | None = 0.5  # kernel widths a particle may move per SVGD step (None: eps as it is)
    # The SVGD kernel's variance sigma^2 (a positive number: a variance, not a width), or the name of the heuristic
    # that computes it from each state's particles: "median", "mean" or "half_mean" (docs/math.md section 2).
    # Formerly `bandwidth`, a name still read (FORMER_NAMES).
    kernel_variance: str | float = "half_mean"
    min_kernel_variance: float | Literal["step_size"] | None = "step_size"  # floor under a heuristic kernel_variance
    log_det: Literal["trace", "exact"] = "trace"
    init_std: float = 0.5  # sigma_0 of S2AC(phi)'s fixed initial Gaussian
    init_std_bounds: tuple[float, float] | None = (0.1, 0.5)  # sigma_theta kept in [lo, hi] (None: log-std clip)
    init_truncation: float | None = 3.0  # q_0 truncated to this many standard deviations
    train_selection: Literal["random", "max_q", "softmax", "amortized"] = "random"
    eval_selection: Literal["random", "max_q", "softmax", "amortized"] = "max_q"
    amortized_lr: float = 1e-3
    amortized_hidden: tuple[int, ...] = (256, 256)
    authors_compat: bool = False  # reproduce the authors' code's departures (docs/math.md section 10)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.variant in ("phi", "phi_theta", "amortized"), "variant",
                 "expected 'phi', 'phi_theta' or 'amortized'", self.variant)
        _require(isinstance(self.num_particles, int) and self.num_particles >= 1, "num_particles",
                 "must be a positive integer", self.num_particles)
        _require(isinstance(self.svgd_steps, int) and self.svgd_steps >= 0, "svgd_steps",
                 "must be a non-negative integer", self.svgd_steps)
        _require(self.svgd_steps == 0 or self.num_particles >= 2, "num_particles",
                 "SVGD needs at least 2 particles per state when svgd_steps > 0", self.num_particles)
        _require(self.variant != "amortized" or self.num_particles >= 2, "num_particles",
                 "the amortized sampler's Stein direction needs at least 2 particles per state", self.num_particles)
        _require(self.svgd_step_size > 0, "svgd_step_size", "must be positive", self.svgd_step_size)
        _check_kernel_variance(self.kernel_variance)
        _require(self.svgd_max_move is None or self.svgd_max_move > 0, "svgd_max_move",
                 "must be a positive number of kernel widths or null (no limit)", self.svgd_max_move)
        _require(self.min_kernel_variance in (None, "step_size")
                 or (isinstance(self.min_kernel_variance, float) and self.min_kernel_variance > 0),
                 "min_kernel_variance", "must be a positive number, 'step_size' (the floor is eps) or null (no floor)",
                 self.min_kernel_variance)
        _require(self.init_std_bounds is None or (len(self.init_std_bounds) == 2
                                                  and 0 < self.init_std_bounds[0] < self.init_std_bounds[1]),
                 "init_std_bounds", "must be [lo, hi] with 0 < lo < hi, or null", self.init_std_bounds)
        _require(self.log_det in ("trace", "exact"), "log_det", "expected 'trace' or 'exact'", self.log_det)
        _require(self.init_std > 0, "init_std", "must be positive", self.init_std)
        _require(self.init_truncation is None or self.init_truncation > 0, "init_truncation",
                 "must be positive or null (no truncation)", self.init_truncation)
        for name in ("train_selection", "eval_selection"):
            value = getattr(self, name)
            _require(value in SELECTIONS, name, f"expected one of {SELECTIONS}", value)
            _require(value != "amortized" or self.variant == "amortized", name,
                     "'amortized' selection needs variant='amortized'", value)
        _require(self.amortized_lr > 0, "amortized_lr", "must be positive", self.amortized_lr)

    def svgd_settings(self) -> SVGDSettings:
        """The settings of the Stein policy's sampling, under the same names (``min_kernel_variance``
        resolved to a number)."""
        return SVGDSettings(num_particles=self.num_particles, svgd_steps=self.svgd_steps,
                            svgd_step_size=self.svgd_step_size, kernel_variance=self.kernel_variance,
                            svgd_max_move=self.svgd_max_move,
                            min_kernel_variance=(self.svgd_step_size if self.min_kernel_variance == "step_size"
                                                 else self.min_kernel_variance),
                            init_truncation=self.init_truncation, log_det=self.log_det,
                            authors_compat=self.authors_compat)

    stein_sampler = svgd_settings  # the former name

__all__ = ["FORMER_NAMES", "OffPolicyConfig", "S2ACConfig", "S2ACVariant", "SACConfig", "SACNFConfig", "SQLConfig"]
