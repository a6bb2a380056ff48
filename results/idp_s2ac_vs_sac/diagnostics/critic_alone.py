"""Can the critic fit its target when the actor and alpha stand still? From a run's last checkpoint, train
only the critic (and its Polyak target) for UPDATES updates on the run's replay data, actor and alpha frozen,
and print its loss on fresh batches every EVERY updates. A loss that falls to SAC's level says the run's high
critic loss is the target moving (actor, alpha); one that stays high says the target itself is hard to fit.

    python results/idp_s2ac_vs_sac/diagnostics/critic_alone.py RUN_DIR [RUN_DIR ...] [--svgd-steps L]

With ``--svgd-steps L`` an S2AC run's target draws its next actions with L SVGD steps instead of its own.
"""

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np

from s2ac.algorithms.actor_critic import soft_td_target, update_critic, update_targets
from s2ac.training.loop import resume

UPDATES, EVERY = 3000, 500


def losses(run_dir: str, svgd_steps: int | None) -> list[float]:
    agent = resume(run_dir)
    if svgd_steps is not None:
        agent.config = dataclasses.replace(agent.config, svgd_steps=svgd_steps)
    step, _ = critic_step(agent)
    return train_alone(step, agent.state, agent.trainer.buffer, agent.config.batch_size)[1]


def critic_step(agent, policy_critic=None):
    """A jitted critic-only update ``(state, batch, key) -> (state, loss)`` toward ``agent``'s soft TD target, with
    the actor and alpha of ``state``, and that target ``(state, batch, key) -> y``. The policy's SVGD steps follow
    ``policy_critic`` (None: the critic being trained)."""
    config = agent.config

    def target(state, batch, key):
        critic = state.critic if policy_critic is None else policy_critic
        sample = agent.policy(state.actor, critic, batch.next_obs, key, state.alpha)
        return soft_td_target(state.target_critic, batch, sample, state.alpha, config.gamma)

    @jax.jit
    def step(state, batch, key):
        state, metrics = update_critic(state, batch, target(state, batch, key), agent.optimizers)
        return update_targets(state, config.polyak), metrics["critic_loss"]

    return step, target


def train_alone(step, state, buffer, batch_size: int):
    """UPDATES updates ``step(state, batch, key) -> (state, loss)`` on batches of ``buffer``: the final state and
    the mean loss of each EVERY updates."""
    rng, key, trace, window = np.random.default_rng(0), jax.random.PRNGKey(0), [], []
    for i in range(UPDATES):
        batch = jax.tree.map(lambda x: jnp.asarray(x[0]), buffer.sample(rng, batch_size))
        key, sub = jax.random.split(key)
        state, loss = step(state, batch, sub)
        window.append(float(loss))
        if (i + 1) % EVERY == 0:
            trace.append(float(np.mean(window)))
            window = []
    return state, trace


if __name__ == "__main__":
    args = sys.argv[1:]
    steps = None
    if "--svgd-steps" in args:
        at = args.index("--svgd-steps")
        steps, args = int(args[at + 1]), args[:at] + args[at + 2:]
    print(f"critic loss, mean over each {EVERY} critic-only updates (actor and alpha frozen), svgd_steps={steps}")
    for d in args:
        print(d, " ".join(f"{x:.1f}" for x in losses(d, steps)), flush=True)
