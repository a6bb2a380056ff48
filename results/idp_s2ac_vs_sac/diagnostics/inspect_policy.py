import gymnasium as gym
import jax
import numpy as np

from s2ac.algorithms.base import OffPolicyAgent

for d in ["runs/cmp-idp/InvertedDoublePendulum-v5/s2ac_phi_theta/seed_0"]:
    agent = OffPolicyAgent.load(d + "/model.npz")
    env = gym.make("InvertedDoublePendulum-v5")
    obs = np.stack([env.reset(seed=i)[0] for i in range(5)]).astype(np.float32)
    acts, lp = agent.sample(obs, 10, jax.random.PRNGKey(0))
    print("actions", np.round(acts[:, :, 0], 3))
    print("log pi", np.round(lp, 1))
    mu, sd = agent.initial_distribution(obs)
    print("q0 mean", np.round(mu[:, 0], 2), "std", np.round(sd[:, 0], 3))
    import jax.numpy as jnp
    grid = jnp.linspace(-1, 1, 11)[:, None]
    q = [np.asarray(agent.state.critic.min_q(jnp.repeat(jnp.asarray(obs[i:i+1]), 11, 0), grid)) for i in range(2)]
    print("Q over actions -1..1:", np.round(q, 1))
