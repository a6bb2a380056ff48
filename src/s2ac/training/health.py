"""Training health: the one guard that reads every batch of updates (the step and the metrics averaged over
the batch's updates) and warns about, counts, or stops on what is wrong.

A rule is a name, a check of ``(step, metrics)`` returning what is wrong as ``{subject: message}`` (empty
when healthy), and what to do: warn once per subject and count the batches, or stop training by raising a
:class:`TrainingStopped` error before the batch's updates are kept (the agent keeps its state from before
them, and the run directory its last checkpoint). The rules of every run (:func:`monitor_for`):

- ``non_finite``: a NaN or infinite metric stops training (:class:`NonFiniteLossError`).
- ``divergence_warnings``: a loss far beyond the scale the rewards allow (:func:`soft_value_bound`): the
  critic loss as its root-mean-square TD error per critic, the actor loss as it is (both in units of Q)
  above ``divergence_factor`` times the bound. A healthy critic stays below the bound itself (measured on
  Pendulum: at most 0.05 of it; SAC with ``critic_lr=10`` reached 3.6e3 times it in its first batch).
  Warns; with ``stop_on_divergence`` it stops (:class:`DivergenceError`).
- ``impossible_entropy``: an entropy estimate above ``dim(A) log 2``, the entropy of the uniform
  distribution on the normalised action box ``[-1, 1]^d``, which no distribution on the box exceeds (S2AC's
  closed-form estimate does when it runs away, see the README's Stability). Warns and counts.

The counted rules' counts (cumulative since the run began, kept in the checkpoint) are columns of
``metrics.csv``. Another rule is one more :class:`Rule` in :func:`monitor_for` (and, if counted, its name in
``logger.COLUMNS``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s2ac.training.trainable import Trainable

DIVERGENCE = "divergence_warnings"
IMPOSSIBLE_ENTROPY = "impossible_entropy"
# An estimate from a batch of samples scatters around the true entropy (SAC at initialisation, 800 samples:
# standard deviation 0.008 nat, mean 0.668 against the bound log 2 = 0.693 for d = 1), so a policy close to
# uniform crosses the bound by noise alone; 0.05 nat per dimension above it is no longer noise.
ENTROPY_SLACK = 0.05


class TrainingStopped(RuntimeError):
    """A health rule stopped training; the agent keeps its state from before the offending updates."""


class NonFiniteLossError(TrainingStopped):
    """An update produced a NaN or infinite loss; the agent keeps its last finite state."""


class DivergenceError(TrainingStopped):
    """A loss grew far beyond the scale of the returns (``stop_on_divergence``); the agent keeps its state from
    before those updates."""


class HealthWarning(UserWarning):
    """A health rule found a problem that does not stop training."""


Check = Callable[[int, Mapping[str, float]], dict[str, str]]


@dataclass(frozen=True)
class Rule:
    """``check(step, metrics)`` returns what is wrong in a batch of updates, ``{subject: message}`` (a subject,
    e.g. a loss's name, is warned about once); ``stop``: raise this error instead of warning; ``counted``: count
    the batches where the rule fires, under ``name`` (a ``metrics.csv`` column)."""

    name: str
    check: Check
    stop: type[TrainingStopped] | None = None
    counted: bool = True


class HealthMonitor:
    """Applies its rules to each batch of updates, in order; keeps the counts and what was warned about."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)
        self.counts: dict[str, int] = {rule.name: 0 for rule in self.rules if rule.counted}
        self.warned: set[str] = set()

    def observe(self, step: int, metrics: Mapping[str, float]) -> None:
        """Check the averaged metrics of the batch of updates that brought training to ``step``."""
        for rule in self.rules:
            problems = rule.check(step, metrics)
            if not problems:
                continue
            if rule.stop is not None:  # the batch's updates will not be kept: nothing to count
                raise rule.stop("; ".join(problems.values()))
            if rule.counted:
                self.counts[rule.name] += 1
            for subject, message in problems.items():
                if f"{rule.name}/{subject}" not in self.warned:
                    self.warned.add(f"{rule.name}/{subject}")
                    # observe <- Trainer._update <- Trainer.run <- learn <- the caller of learn
                    warnings.warn(message, HealthWarning, stacklevel=5)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run counts and warns as an uninterrupted one."""
        return {"counts": dict(self.counts), "warned": sorted(self.warned)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.counts.update({name: int(n) for name, n in state.get("counts", {}).items() if name in self.counts})
        self.warned = set(state.get("warned", ()))


def soft_value_bound(max_abs_reward: float, alpha: float, action_dim: int, horizon: float) -> float:
    """The largest ``|Q|`` a soft critic can need: ``horizon * (max |r| + alpha * dim(A))``. Per step, a reward
    and an entropy bonus ``-alpha log pi``, of at most ``alpha dim(A) log 2`` above and about ``alpha dim(A)``
    below zero for a policy at SAC's default target entropy ``-dim(A)``; ``horizon = min(1 / (1 - gamma), the
    task's time limit)``."""
    return horizon * (max_abs_reward + alpha * action_dim)


def non_finite_rule() -> Rule:
    def check(step: int, metrics: Mapping[str, float]) -> dict[str, str]:
        bad = [f"{name}={value}" for name, value in metrics.items() if not math.isfinite(value)]
        return {"metrics": f"non-finite {', '.join(bad)} in the updates at step {step}"} if bad else {}

    return Rule("non_finite", check, stop=NonFiniteLossError, counted=False)


def divergence_rule(in_q_units: Mapping[str, Callable[[float], float]], bound: Callable[[Mapping[str, float]], float],
                    factor: float, stop: bool) -> Rule:
    """Fires for each loss of ``in_q_units`` (its name -> its size in units of Q) above ``factor * bound``."""

    def check(step: int, metrics: Mapping[str, float]) -> dict[str, str]:
        scale = bound(metrics)
        problems = {}
        for name, size_of in in_q_units.items():
            if name in metrics and size_of(metrics[name]) > factor * scale:
                problems[name] = (
                    f"{name} is diverging at step {step}: {metrics[name]:.4g} ({size_of(metrics[name]):.3g} in units "
                    f"of Q) is more than divergence_factor={factor:g} times {scale:.4g}, the largest |Q| the rewards "
                    "seen so far allow" + ("" if stop else "; set stop_on_divergence=true to stop at this point"))
        return problems

    return Rule(DIVERGENCE, check, stop=DivergenceError if stop else None)


def impossible_entropy_rule(action_dim: int) -> Rule:
    bound = action_dim * math.log(2.0)

    def check(step: int, metrics: Mapping[str, float]) -> dict[str, str]:
        entropy = metrics.get("entropy")
        if entropy is None or not entropy > bound + ENTROPY_SLACK * action_dim:
            return {}
        return {"entropy": f"the entropy estimate {entropy:.4g} at step {step} exceeds {bound:.4g} = "
                           f"{action_dim} log 2, the entropy of the uniform distribution on the action box, which "
                           "no policy exceeds: the estimate has run away (see the README's Stability)"}

    return Rule(IMPOSSIBLE_ENTROPY, check)


def monitor_for(agent: Trainable, max_abs_reward: Callable[[], float]) -> HealthMonitor:
    """The rules of a run of ``agent``, from its config; ``max_abs_reward()``: the largest ``|r|`` seen so far."""
    cfg = agent.config
    rules = [non_finite_rule()]
    if cfg.divergence_factor is not None:
        limit = agent.env.spec.max_episode_steps if agent.env.spec is not None else None
        horizon = min(1.0 / (1.0 - cfg.gamma) if cfg.gamma < 1.0 else math.inf, limit or math.inf)
        to_q_units = {"critic_loss": lambda loss: math.sqrt(max(loss, 0.0) / cfg.num_critics), "actor_loss": abs}

        def bound(metrics: Mapping[str, float]) -> float:
            alpha = metrics.get("alpha", cfg.alpha)
            return soft_value_bound(max_abs_reward(), alpha, agent.action_dim, horizon)

        rules.append(divergence_rule({name: to_q_units[name] for name in agent.divergence_losses}, bound,
                                     cfg.divergence_factor, cfg.stop_on_divergence))
    rules.append(impossible_entropy_rule(agent.action_dim))
    return HealthMonitor(rules)
