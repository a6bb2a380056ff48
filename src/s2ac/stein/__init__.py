"""The Stein core: SVGD toward an energy-based density with a closed-form log-density, other particle
samplers with the same bookkeeping, initial distributions and test targets. Batched over states:
particles are ``(batch, m, d)``, log-densities ``(batch, m)``."""

from s2ac.stein.initial import normal_log_prob, normal_sample
from s2ac.stein.kernels import (
    BANDWIDTH_RULES,
    KERNEL_VARIANCE_RULES,
    Bandwidth,
    KernelVariance,
    kernel_variance,
    rbf_kernel,
)
from s2ac.stein.langevin import dld_sample, hmc_sample, langevin_sample, leapfrog, sgld_sample
from s2ac.stein.sampling import (
    LogProb,
    SamplerResult,
    entropy_estimate,
    log_abs_det_jacobian,
    per_particle_jacobian,
    run_chain,
    score,
)
from s2ac.stein.svgd import SVGDStep, svgd_exact_log_det, svgd_field, svgd_sample, svgd_step, svgd_trace
from s2ac.stein.targets import Gaussian, GaussianMixture, circle_mixture

__all__ = [
    "BANDWIDTH_RULES", "KERNEL_VARIANCE_RULES", "Bandwidth", "Gaussian", "GaussianMixture", "KernelVariance",
    "LogProb", "SVGDStep", "SamplerResult", "circle_mixture", "dld_sample",
    "entropy_estimate", "hmc_sample", "kernel_variance", "langevin_sample",
    "leapfrog", "log_abs_det_jacobian", "normal_log_prob", "normal_sample", "per_particle_jacobian",
    "rbf_kernel", "run_chain", "score", "sgld_sample", "svgd_exact_log_det", "svgd_field", "svgd_sample",
    "svgd_step", "svgd_trace",
]
