"""``python tests/killed_run.py MOMENT s2ac-arguments...``: run the ``s2ac`` command line in this process and
SIGKILL the process at a chosen MOMENT, as a crash, an OOM kill or a power cut would (no cleanup, no
``finally``). Used by ``test_crash_recovery.py``; the library has no test hook, the moments are reached by
wrapping its functions here:

- ``step:N``: after environment step N is complete (its updates, evaluation and checkpoint included);
- ``checkpoint:K``: halfway through writing this process's K-th checkpoint (its temporary file half written);
- ``row:N``: after the first character of the metrics.csv row of step N (a torn last row);
- ``model``: halfway through writing model.npz, after the final checkpoint.
"""

from __future__ import annotations

import io
import os
import signal
import sys

import numpy as np


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(moment: str) -> None:
    from s2ac.training import loop
    from s2ac.training.logger import RunLogger

    kind, _, value = moment.partition(":")
    if kind == "step":
        env_step = loop.Trainer._env_step

        def env_step_or_die(trainer: loop.Trainer) -> None:
            if trainer.step == int(value):
                die()
            env_step(trainer)

        loop.Trainer._env_step = env_step_or_die
    elif kind in ("checkpoint", "model"):
        target = ".checkpoint.npz.tmp-" if kind == "checkpoint" else ".model.npz.tmp-"
        savez, writes = np.savez, []

        def savez_or_die(file, *args, **kwargs):
            if target not in getattr(file, "name", ""):
                return savez(file, *args, **kwargs)
            writes.append(file.name)
            if kind == "model" or len(writes) == int(value):
                buffer = io.BytesIO()
                savez(buffer, *args, **kwargs)
                file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                file.flush()
                die()
            return savez(file, *args, **kwargs)

        np.savez = savez_or_die
    elif kind == "row":
        log_row = RunLogger.log_row

        def log_row_or_die(logger: RunLogger, row: dict[str, float]) -> None:
            if row["step"] == int(value):
                with open(logger.csv_path, "a") as f:
                    f.write(str(row["step"])[0])
                die()
            log_row(logger, row)

        RunLogger.log_row = log_row_or_die
    else:
        raise SystemExit(f"unknown moment {moment!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    from s2ac.cli import main

    sys.exit(main(sys.argv[2:]))
