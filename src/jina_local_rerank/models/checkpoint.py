"""Find a checkpoint on disk (local folder, HF cache or hub download) and tell which architecture it is.

Everything downstream reads from the folder this module returns, so the network is touched in one
place only, and an unavailable model becomes one clear error instead of a stack trace from deep
inside huggingface_hub.
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Any

import huggingface_hub
from huggingface_hub import errors as hub_errors

from jina_local_rerank.errors import ModelNotAvailableError

# What a cross-encoder needs: configs, tokenizer files, weights. Not ONNX exports or other variants.
_CHECKPOINT_PATTERNS = [
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "tokenizer*",
    "vocab*",
    "merges*",
]
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class Architecture(enum.Enum):
    """How a checkpoint is turned into a model."""

    JINA_V2 = "jina-xlm-roberta-flash"  # jina-reranker-v2: Jina's flash-attention XLM-RoBERTa layout
    JINA_BERT = "jina-bert"  # jina-reranker-v1: JinaBERT (ALiBi, GEGLU)
    JINA_V3 = "jina-qwen3-listwise"  # jina-reranker-v3: JinaForRanking (Qwen3 + projector, listwise)
    GENERIC = "generic"  # anything sentence-transformers' CrossEncoder loads by itself


def is_offline(local_files_only: bool | None) -> bool:
    """``local_files_only=None`` follows ``HF_HUB_OFFLINE``."""
    if local_files_only is not None:
        return bool(local_files_only)
    # Read the variable now, not at huggingface_hub's import: it may be set after that.
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    probe = getattr(huggingface_hub.constants, "is_offline_mode", None)
    return env or bool(probe() if probe else huggingface_hub.constants.HF_HUB_OFFLINE)


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def resolve_checkpoint(
    model: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder holding ``model``: the folder itself, a cached snapshot, or a fresh download."""
    path = Path(model).expanduser()
    name = str(model)
    if path.is_dir():
        _require_weights(path, name)
        return path
    if path.exists() or _looks_like_path(name):
        raise ModelNotAvailableError(
            f"Model {name!r}: no such folder. Pass the folder of a downloaded checkpoint "
            "(with config.json, tokenizer files and model weights) or a Hugging Face hub id."
        )
    offline = is_offline(local_files_only)

    def download(patterns: list[str]) -> Path:
        return Path(
            huggingface_hub.snapshot_download(
                repo_id=name,
                revision=revision,
                cache_dir=None if cache_dir is None else Path(cache_dir),
                local_files_only=offline,
                token=token,
                allow_patterns=patterns,
            )
        )

    try:
        folder = download(_CHECKPOINT_PATTERNS)
        if not any((folder / weight).exists() for weight in _WEIGHT_FILES):
            folder = download(["pytorch_model.bin"])  # older repos ship only a pickled state dict
    except (hub_errors.RepositoryNotFoundError, hub_errors.GatedRepoError) as exc:
        raise ModelNotAvailableError(
            f"Model {name!r} was not found on the Hugging Face hub or needs access rights "
            f"({type(exc).__name__}). Check the id, or pass token=... for a gated or private model."
        ) from exc
    except hub_errors.RevisionNotFoundError as exc:
        raise ModelNotAvailableError(f"Model {name!r} has no revision {revision!r}.") from exc
    except (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled, OSError) as exc:
        raise ModelNotAvailableError(
            _offline_message(name, revision, cache_dir, offline), model=name, suggest_local_folder=True
        ) from exc
    except hub_errors.HfHubHTTPError as exc:
        raise ModelNotAvailableError(f"Model {name!r} could not be downloaded: {exc}") from exc
    _require_weights(folder, name)
    return folder


def _offline_message(name: str, revision: str | None, cache_dir: Any, offline: bool) -> str:
    where = f"the cache at {cache_dir}" if cache_dir else "the Hugging Face cache"
    why = "offline mode is on (local_files_only / HF_HUB_OFFLINE)" if offline else "the hub could not be reached"
    rev = f" --revision {revision}" if revision else ""
    return (
        f"Model {name!r} is not in {where} and {why}.\n"
        f"To use it without network access, either\n"
        f"  * download it on a connected machine: `hf download {name}{rev}` (then copy the cache, "
        f"e.g. ~/.cache/huggingface/hub, to this machine, or set HF_HOME), or"
    )


def _require_weights(folder: Path, name: str) -> None:
    if not (folder / "config.json").is_file():
        raise ModelNotAvailableError(f"Model {name!r}: {folder} has no config.json; it is not a model checkpoint.")
    if not any((folder / weight).exists() for weight in _WEIGHT_FILES):
        raise ModelNotAvailableError(
            f"Model {name!r}: {folder} has no weights (expected one of {', '.join(_WEIGHT_FILES)})."
        )


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` as a plain dict: v2's has no ``model_type``, so AutoConfig cannot read it."""
    with open(folder / "config.json", encoding="utf-8") as handle:
        return json.load(handle)


def detect_architecture(config: dict[str, Any]) -> Architecture:
    """Tell Jina's layouts from ordinary checkpoints by their config keys, never by their name."""
    auto_map = json.dumps(config.get("auto_map") or {})
    if "JinaForRanking" in (config.get("architectures") or []) and config.get("model_type") == "qwen3":
        return Architecture.JINA_V3
    if "model_type" not in config and ("XLMRobertaFlashConfig" in auto_map or "use_flash_attn" in config):
        return Architecture.JINA_V2
    if config.get("model_type") == "bert" and (
        config.get("position_embedding_type") == "alibi"
        or config.get("feed_forward_type", "").endswith("glu")
        or "JinaBert" in auto_map
    ):
        return Architecture.JINA_BERT
    return Architecture.GENERIC


def hard_max_length(config: Any, architecture: Architecture, allow_long_context: bool = False) -> int | None:
    """Longest pair that fits the position table, or for ALiBi the trained length (``None``: no limit)."""
    if architecture is Architecture.JINA_BERT and allow_long_context:
        return None
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if config.model_type in {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"}:
        return int(positions - config.pad_token_id - 1)
    return int(positions)
