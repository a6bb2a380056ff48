"""Which of S2AC's differences from SAC makes its critic fit worse? A fresh critic, trained alone (UPDATES
critic-only updates, its Polyak target with it), in every combination of
  replay data      the S2AC run's buffer or the SAC run's,
  target policy    the S2AC run's (its actor, trained critic for the SVGD steps, and alpha) or the SAC run's,
  activation       ELU (S2AC's default, the authors') or ReLU (SAC's),
from one initialisation per activation. Printed per cell: the loss (both critics) per EVERY updates, and at the end
the squared distance from the expected target (REPEATS draws) on TRANSITIONS fixed transitions, at terminal ones
and the others. The policies stand still, so what differs between the cells is only the factor named.

    python results/idp_s2ac_vs_sac/diagnostics/critic_factors.py S2AC_RUN_DIR SAC_RUN_DIR [ACTIVATION ...]

ACTIVATION: the critics' activations to try (default: elu relu).
"""

import itertools
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from critic_alone import (  # this directory's script, on the path when run as one
    EVERY,
    UPDATES,
    critic_step,
    train_alone,
)

from s2ac.algorithms import agent_from_description
from s2ac.training.loop import read_description, resume

TRANSITIONS, REPEATS = 2048, 16


def fresh_critic(run_dir: str, activation: str):
    """A new critic and its target, of the run's agent with ``activation``."""
    description = read_description(run_dir)
    description = {**description, "config": {**description["config"], "activation": activation}}
    state = agent_from_description(description).state
    return state.critic, state.target_critic


def fit(data_agent, policy_agent, critic_parts) -> tuple[list[float], float, float]:
    """Train the fresh critic on ``data_agent``'s replay data toward ``policy_agent``'s soft TD target."""
    critic, target_critic = critic_parts
    opt_state = policy_agent.optimizers.critic.init(eqx.filter(critic, eqx.is_inexact_array))
    state = eqx.tree_at(lambda s: (s.critic, s.target_critic, s.critic_opt), policy_agent.state,
                        (critic, target_critic, opt_state))
    buffer = data_agent.trainer.buffer
    step, target = critic_step(policy_agent, policy_critic=policy_agent.state.critic)
    state, trace = train_alone(step, state, buffer, policy_agent.config.batch_size)

    batch = jax.tree.map(lambda x: jnp.asarray(x[0]), buffer.sample(np.random.default_rng(1), TRANSITIONS))
    draws = jax.jit(jax.vmap(lambda key: target(state, batch, key)))
    expected = jnp.mean(draws(jax.random.split(jax.random.PRNGKey(1), REPEATS)), axis=0)
    error = (state.critic(batch.obs, batch.actions) - expected) ** 2  # (critics, N)
    terminal = np.asarray(batch.terminated) > 0
    return trace, float(jnp.mean(error[:, terminal])), float(jnp.mean(error[:, ~terminal]))


if __name__ == "__main__":
    s2ac_dir, sac_dir, *activations = sys.argv[1:]
    agents = {"S2AC": resume(s2ac_dir), "SAC": resume(sac_dir)}
    for name, agent in agents.items():
        share = float(np.mean(agent.trainer.buffer.sample(np.random.default_rng(1), TRANSITIONS).terminated))
        print(f"{name} replay data: terminal share {share:.3f}; alpha {float(agent.state.alpha):.3f}")
    critics = {act: fresh_critic(sac_dir, act) for act in activations or ("elu", "relu")}
    print(f"loss (both critics) per {EVERY} of {UPDATES} critic-only updates; (Q - E y)^2 at terminal / other "
          f"transitions after them ({TRANSITIONS} transitions, {REPEATS} target draws)")
    print("| data | target policy | activation | loss trace | terminal | other |")
    print("| --- | --- | --- | --- | --- | --- |")
    for data, policy, act in itertools.product(agents, agents, critics):
        trace, at_terminal, elsewhere = fit(agents[data], agents[policy], critics[act])
        print(f"| {data} | {policy} | {act} | {' '.join(f'{x:.1f}' for x in trace)} | {at_terminal:.1f} | "
              f"{elsewhere:.2f} |", flush=True)
