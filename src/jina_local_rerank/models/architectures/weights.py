"""Read a checkpoint's state dict from whichever weight file it ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from jina_local_rerank import compat
from jina_local_rerank.errors import CheckpointMismatchError


def load_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """Tensors by name, in their stored dtype (safetensors first, sharded or not, then pytorch_model.bin)."""
    single = folder / "model.safetensors"
    if single.is_file():
        return load_file(single)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        with open(index, encoding="utf-8") as handle:
            shards = sorted(set(json.load(handle)["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(folder / shard))
        return state
    pickled = folder / "pytorch_model.bin"
    if pickled.is_file():
        return torch.load(pickled, map_location="cpu", weights_only=True)
    raise CheckpointMismatchError(f"{folder} holds no model.safetensors or pytorch_model.bin.")


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load that reports every missing or unexpected tensor by name."""
    expected = set(model.state_dict().keys())
    missing = sorted(expected - state.keys())
    unexpected = sorted(state.keys() - expected)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{source}: the checkpoint does not match the model. "
            f"Missing tensors: {missing[:8]}{' ...' if len(missing) > 8 else ''}; "
            f"unexpected tensors: {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}."
        )
    model.load_state_dict(state, strict=True)


def weights_initialised_by_loading(model: torch.nn.Module) -> list[str]:
    """Parameters that ``from_pretrained`` had to initialise because the checkpoint lacks them.

    transformers 5 flags every parameter it fills from the checkpoint (or ties to one) with
    ``_is_hf_initialized``; the unflagged ones got random values. If no parameter carries the flag
    (another loading path), nothing can be told and the list is empty.
    """
    parameters = list(model.named_parameters())
    flagged = compat.initialised_flags([parameter for _, parameter in parameters])
    if not any(flagged):
        return []
    return [name for (name, _), loaded in zip(parameters, flagged) if not loaded]


def require_checkpoint_weights(model: torch.nn.Module, source: str, config: dict[str, Any]) -> None:
    """Refuse a model whose loading initialised weights: its scores would be meaningless.

    The error names the missing weights and what the checkpoint's config says it is.
    """
    missing = weights_initialised_by_loading(model)
    if not missing:
        return
    declared = config.get("architectures") or ["(none)"]
    raise CheckpointMismatchError(
        f"{source}: the checkpoint lacks weights that {type(model).__name__} needs, so loading would have "
        f"filled them with random values: {missing[:8]}{' ...' if len(missing) > 8 else ''}. The checkpoint's "
        f"config.json declares architectures {declared} (model_type {config.get('model_type')!r}): it is "
        "not a cross-encoder with a trained scoring head. Use a reranker checkpoint (or one of Jina's "
        "rerankers, which load natively)."
    )
