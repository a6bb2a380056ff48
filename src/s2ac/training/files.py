"""The names of a run directory's files, and the one check every command makes of a folder it will write
into, so that a bad ``--out`` fails at once, in one line naming the path, instead of after the work."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

CONFIG_FILE = "config.json"  # algorithm, environment, seed, resolved config, step budget
CHECKPOINT_FILE = "checkpoint.npz"  # everything needed to continue the run exactly
MODEL_FILE = "model.npz"  # the final networks and config
METRICS_FILE = "metrics.csv"  # one row per evaluation
TENSORBOARD_DIR = "tensorboard"  # TensorBoard event files


class OutputError(ValueError):
    """A folder that cannot be created or written into (a ValueError: the command line reports it as a user
    error, in one line)."""


def describe_os_error(err: OSError) -> str:
    """``"<what went wrong>: <path>"`` for a filesystem error, without Python's ``[Errno N]`` prefix."""
    reason = err.strerror or str(err)
    if err.errno == errno.ENOTDIR and err.filename is not None:
        blocker = _first_file_ancestor(Path(err.filename))
        if blocker is not None:
            return f"{blocker} is a file, not a directory (in the path {err.filename})"
    return f"{reason}: {err.filename}" if err.filename is not None else reason


def prepare_output_dir(path: str | Path, what: str = "output directory") -> Path:
    """Create the folder ``path`` (and its parents) unless it exists, and check that a file can be written in
    it; raise :class:`OutputError` naming ``path`` and the reason otherwise. Returns ``path`` as a Path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot use {path} as the {what}: it is an existing file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Permissions alone do not say it (root ignores them, read-only mounts and quotas do not show in
        # them): write a real file.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise OutputError(f"cannot use {path} as the {what}: {describe_os_error(err)}") from None
    return path


def _first_file_ancestor(path: Path) -> Path | None:
    """The first existing component of ``path`` that is not a directory (what blocks creating it)."""
    for ancestor in reversed((path, *path.parents)):
        if ancestor.exists() and not ancestor.is_dir():
            return ancestor
    return None


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place: a crash leaves the old content
    or the new one, never a torn file."""
    write_bytes_atomically(path, text.encode())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """:func:`write_text_atomically` for bytes."""
    path = Path(path)
    # A temporary name of its own: two processes writing one file must not rename each other's temporary away.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # what a plain write gives (mkstemp's file is private)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
