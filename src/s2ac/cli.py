"""The ``s2ac`` command line. Each subcommand lives in its own module, which provides
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them up."""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import warnings
from typing import TextIO

from s2ac.training.files import describe_os_error

# name -> (module, one-line help). Keep each module's top-level imports light: all are imported to build
# the parser.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("s2ac.commands.train", "Train S2AC, SAC, SQL or SAC-NF on a Gymnasium task (or resume a run)"),
    "evaluate": ("s2ac.commands.evaluate", "Evaluate a trained agent from its run directory"),
    "entropy": ("s2ac.experiments.entropy", "Study E1: entropy of the SVGD sampler (paper Section 4.1)"),
    "multigoal": ("s2ac.experiments.multigoal", "Study E2: multigoal (paper Section 4.2)"),
    "report": ("s2ac.experiments.report", "Study E3: learning curves and rliable aggregates over a directory of runs"),
    "runtime": ("s2ac.experiments.runtime", "Table 1: milliseconds per action selection, per task and algorithm"),
    "stability": ("s2ac.experiments.stability", "S2AC stability on its defaults: tasks x variants x temperatures "
                  "(resumable)"),
    "sweep": ("s2ac.experiments.sweep", "Study E3: train tasks x algorithms x seeds, locally or on Ray (resumable)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2ac", description="Stein Soft Actor-Critic in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = functools.partial(_show_warning, args.command)
        try:
            return importlib.import_module(args._module).run(args) or 0
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except ValueError as err:
            # Bad user input surfaces as ValueError with a specific message; a traceback would only hide it.
            print(f"s2ac {args.command}: error: {err}", file=sys.stderr)
            return 2
        except OSError as err:
            # The filesystem failed under a command (disk full, a folder removed or made read-only meanwhile):
            # what and where, in one line. Outputs' folders are checked up front, so this is rare.
            print(f"s2ac {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
            return 1


def _show_warning(command: str, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as one line naming the command, like the errors (not Python's file:line form)."""
    print(f"s2ac {command}: warning: {message}", file=sys.stderr if file is None else file)


if __name__ == "__main__":
    sys.exit(main())
