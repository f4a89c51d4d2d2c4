"""Exported models on disk, built once per (model, revision, backend, precision) and verified on load.

An entry is written into a temporary folder and renamed into place when complete, with a manifest
of every file's sha256 written last; an entry whose manifest is missing or does not match its
files (an interrupted or corrupted export) is deleted and built again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from jina_local_rerank.backends.conversion import weights_digest

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Bumped whenever the export changes in a way that makes old entries wrong.
FORMAT_VERSION = 1
ENV_VARIABLE = "JINA_LOCAL_RERANK_EXPORTS"


def default_root() -> Path:
    """``$JINA_LOCAL_RERANK_EXPORTS``, else ``$HF_HOME/jina-local-rerank/exports``, else ~/.cache/...."""
    if os.environ.get(ENV_VARIABLE):
        return Path(os.environ[ENV_VARIABLE]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "jina-local-rerank" / "exports"
    return Path("~/.cache/jina-local-rerank/exports").expanduser()


def checkpoint_revision(folder: Path) -> str:
    """The hub commit of a cached snapshot (``.../snapshots/<commit>``), else a hash of the weights."""
    if folder.parent.name == "snapshots":
        return folder.name
    return "sha256-" + weights_digest(folder)[:20]


@dataclass(frozen=True)
class ExportKey:
    model: str
    revision: str
    backend: str
    precision: str

    def relative_path(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "--", self.model.strip("/")).strip("-") or "model"
        return Path(f"{slug[-80:]}--{self.revision[:40]}") / f"{self.backend}-{self.precision}-v{FORMAT_VERSION}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_valid(entry: Path, key: ExportKey) -> bool:
    """Whether ``entry`` holds a complete export for ``key``: manifest present, every file's hash matches."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("key") != asdict(key) or manifest.get("format") != FORMAT_VERSION:
            return False
        files: dict[str, str] = manifest["files"]
        present = {p.name for p in entry.iterdir()} - {MANIFEST}
        return bool(files) and present == set(files) and all(_sha256(entry / n) == h for n, h in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def cached_export(key: ExportKey, build: Callable[[Path], None], root: Path | None = None) -> Path:
    """The folder of ``key``'s export, running ``build(folder)`` first if it is missing or broken."""
    root = root or default_root()
    entry = root / key.relative_path()
    if entry.is_dir():
        if is_valid(entry, key):
            return entry
        logger.warning("The cached export at %s is incomplete or corrupt; building it again.", entry)
        shutil.rmtree(entry, ignore_errors=True)
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=entry.parent))
    try:
        build(staging)
        files = {p.name: _sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
        manifest = {"format": FORMAT_VERSION, "key": asdict(key), "files": files}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        try:
            staging.rename(entry)
        except OSError:
            # Another process finished the same export first: use theirs if it is whole.
            if not is_valid(entry, key):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry
