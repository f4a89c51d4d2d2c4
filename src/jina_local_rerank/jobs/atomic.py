"""Outputs appear whole or not at all: written under a temporary name beside the target, then renamed."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` only if the block succeeds.

    Works for a file or a folder; an existing target is replaced (the caller checked ``--overwrite``).
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        yield temporary
        if temporary.is_dir() and target.exists():
            retired = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(target, retired)
            os.replace(temporary, target)
            _remove(retired)
        else:
            os.replace(temporary, target)
    finally:
        _remove(temporary)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
