"""Checkpoints and saved models: one ``.npz`` file (arrays plus JSON metadata, no pickle), written to a
temporary file and renamed into place, so a crash or an interrupt leaves the previous file intact. The
temporary file of a write killed outright (SIGKILL, power loss) stays behind; the next write of the same file
removes it."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

META_KEY = "__meta__"
_TMP_PREFIX = ".{name}.tmp-"  # followed by the writing process's id


class CheckpointError(ValueError):
    """A checkpoint or model file that is missing, corrupt, or does not match the agent."""


def write_atomically(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``arrays`` and ``meta`` to ``path`` so that readers see the old file or the new one, never a
    partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f"{_TMP_PREFIX.format(name=path.name)}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **{META_KEY: np.array(json.dumps(meta))}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files of earlier writes of ``path`` whose process is gone (killed mid-write); a
    live process's file is left alone, as it may still be renamed into place."""
    prefix = _TMP_PREFIX.format(name=path.name)
    for stale in path.parent.glob(f"{prefix}*"):
        pid = stale.name[len(prefix):]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            stale.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    """``np.load`` of a file written here; raises :class:`CheckpointError` for anything that is not one."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint or model file at {path}")
    # np.load takes any non-zip file for a pickle (and refuses it as "pickled data"): say what it is.
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be loaded (not an .npz archive: "
                              f"{path.stat().st_size} bytes without a zip directory)")
    return np.load(path, allow_pickle=False)


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata of a file written by :func:`write_atomically`; every member is read, so a
    truncated or altered file fails its CRC check here with a :class:`CheckpointError`."""
    path = Path(path)
    try:
        with _open_npz(path) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.pop(META_KEY)))
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be loaded ({type(err).__name__}: "
                              f"{err})") from err
    return arrays, meta


def read_meta(path: Path) -> dict[str, Any]:
    """Only the metadata of a file written by :func:`write_atomically` (cheap: the arrays are not read), e.g. a
    checkpoint's step. A corrupt file raises :class:`CheckpointError`."""
    path = Path(path)
    try:
        with _open_npz(path) as data:
            return json.loads(str(data[META_KEY]))
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be loaded ({type(err).__name__}: "
                              f"{err})") from err


def tree_to_arrays(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """The array leaves of a PyTree (an agent state), numbered in traversal order."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))
    return {f"{prefix}{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}


def arrays_to_tree(template: Any, arrays: dict[str, np.ndarray], prefix: str, source: Path | str) -> Any:
    """Fill ``template``'s array leaves from ``arrays``, checking that their number and shapes match."""
    params, static = eqx.partition(template, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    stored = sorted(name for name in arrays if name.startswith(prefix))
    if len(stored) != len(leaves):
        raise CheckpointError(f"{source} holds {len(stored)} arrays under {prefix!r} but this agent has "
                              f"{len(leaves)}: it was written by a different algorithm or configuration")
    loaded = []
    for i, leaf in enumerate(leaves):
        value = arrays[f"{prefix}{i:04d}"]
        if value.shape != leaf.shape or value.dtype != leaf.dtype:
            raise CheckpointError(f"{source}: array {i} has shape {value.shape} {value.dtype}, the agent "
                                  f"expects {leaf.shape} {leaf.dtype}: a different configuration or environment")
        loaded.append(jnp.asarray(value))
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, loaded), static)
