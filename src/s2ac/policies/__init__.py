"""Policies: the squashed Gaussian (SAC), the Stein policy (S2AC) and the amortized network f_psi
(:class:`AmortizedSampler`)."""

from s2ac.policies.amortized import AmortizedSampler, amortized_stein_loss, stein_direction
from s2ac.policies.gaussian import GaussianActor, sample_squashed_gaussian
from s2ac.policies.squash import squash, squash_log_det
from s2ac.policies.stein import (
    SELECTIONS,
    PolicySample,
    Selection,
    SteinSampler,
    SVGDSettings,
    draw_initial_particles,
    sample_stein_policy,
    sampler_health,
    select_particle,
    stein_log_target,
    stein_policy,
)

__all__ = [
    "SELECTIONS", "AmortizedSampler", "GaussianActor", "PolicySample", "SVGDSettings", "Selection", "SteinSampler",
    "amortized_stein_loss", "draw_initial_particles", "sample_squashed_gaussian", "sample_stein_policy",
    "sampler_health", "select_particle", "squash", "squash_log_det", "stein_direction", "stein_log_target",
    "stein_policy",
]
