"""The layering of docs/architecture.md: imports point one way, the old import paths still reach the moved
objects, the agent satisfies the training layer's protocol, and one function builds agents from descriptions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import s2ac

SRC = Path(s2ac.__file__).parent
# Layer of each package; the shared modules (s2ac, batch, checkpoint, networks, envs, timing) are below all.
LAYERS = {"stein": 1, "policies": 2, "algorithms": 3, "training": 4, "experiments": 5, "commands": 5, "cli": 5}
# The documented exceptions (docs/architecture.md): the SB3-style learn() door and a compatibility name.
ALLOWED = {("s2ac.algorithms.base", "s2ac.training.loop"), ("s2ac.algorithms.reference", "s2ac.training")}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def test_imports_point_one_way():
    upward = []
    for path in SRC.rglob("*.py"):
        module = ".".join(("s2ac", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            targets = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                       [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for target in targets:
                if target.startswith("s2ac") and layer(target) > layer(module) and (module, target) not in ALLOWED:
                    upward.append(f"{module} imports {target} (line {node.lineno})")
    assert upward == []


def test_old_import_paths_reach_the_moved_objects():
    import s2ac.algorithms.reference
    import s2ac.batch
    import s2ac.checkpoint
    import s2ac.training.checkpoint
    import s2ac.training.reference
    from s2ac.policies import SteinSampler, SVGDSettings
    from s2ac.stein import BANDWIDTH_RULES, KERNEL_VARIANCE_RULES, Bandwidth, KernelVariance
    from s2ac.training import checkpoint
    from s2ac.training.replay import Batch

    assert s2ac.training.checkpoint is s2ac.checkpoint is checkpoint
    assert s2ac.algorithms.reference is s2ac.training.reference
    assert Batch is s2ac.batch.Batch
    assert SteinSampler is SVGDSettings
    assert Bandwidth is KernelVariance and BANDWIDTH_RULES is KERNEL_VARIANCE_RULES  # former names


def test_an_agent_is_trainable_and_is_built_from_its_description(tmp_path):
    from s2ac.algorithms import SAC, S2ACConfig, UnknownAlgorithmError, agent_from_description
    from s2ac.training import Trainable

    agent = SAC("Pendulum-v1", seed=3, critic_hidden=(8,), actor_hidden=(8,))
    assert isinstance(agent, Trainable)
    again = agent_from_description(agent.describe())
    assert (type(again), again.seed, again.env_id, again.config) == (SAC, 3, "Pendulum-v1", agent.config)
    settings = S2ACConfig(svgd_steps=5).svgd_settings()
    assert (settings.svgd_steps, settings.svgd_step_size, settings.init_truncation) == (5, 0.1, 3.0)
    with pytest.raises(UnknownAlgorithmError, match="unknown algorithm 'td3'; expected one of s2ac, sac"):
        agent_from_description({"algo": "td3", "env": "Pendulum-v1", "seed": 0, "config": {}})
