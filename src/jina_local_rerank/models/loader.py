"""Turn a resolved checkpoint folder into a ready model on the chosen device and dtype.

Cross-encoders (v1, v2, any other checkpoint) become a ``CrossEncoder``; jina-reranker-v3 is
listwise and is loaded by ``scoring.listwise_scorer.load_listwise_scorer`` around its native model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from sentence_transformers import CrossEncoder

from jina_local_rerank import compat
from jina_local_rerank.models.architectures.weights import require_checkpoint_weights
from jina_local_rerank.models.checkpoint import Architecture, read_config
from jina_local_rerank.models.native import native_transformer_class

logger = logging.getLogger(__name__)


def load_cross_encoder(
    folder: Path,
    architecture: Architecture,
    *,
    device: torch.device,
    dtype: torch.dtype,
    attn_implementation: str,
    trust_remote_code: bool = False,
) -> CrossEncoder:
    """Native module for Jina layouts; sentence-transformers' own loading for everything else.

    The folder is local already, so nothing here touches the network.
    """
    model_kwargs = {"dtype": dtype, "attn_implementation": attn_implementation}
    # Explicit False: without it transformers prompts interactively because of the configs' auto_map.
    processor_kwargs = {"trust_remote_code": trust_remote_code}
    if architecture is Architecture.GENERIC:
        cross_encoder = CrossEncoder(
            str(folder),
            device=str(device),
            local_files_only=True,
            trust_remote_code=trust_remote_code,
            model_kwargs=model_kwargs,
            processor_kwargs=processor_kwargs,
        )
        require_checkpoint_weights(cross_encoder.model, str(folder), read_config(folder))
    elif architecture is Architecture.JINA_V3:
        raise ValueError(
            f"{folder} is jina-reranker-v3 (listwise): load it with scoring.listwise_scorer.load_listwise_scorer."
        )
    else:
        module_class = native_transformer_class(architecture)
        module = module_class(
            str(folder),
            transformer_task="sequence-classification",
            model_kwargs=model_kwargs,
            processor_kwargs=processor_kwargs,
        )
        cross_encoder = CrossEncoder(modules=[module], device=str(device))
    cross_encoder.eval()
    logger.info(
        "Loaded %s (%s) on %s as %s with %s attention",
        folder,
        architecture.value,
        device,
        dtype,
        compat.attention_implementation(cross_encoder.config),
    )
    return cross_encoder


def release_weights(cross_encoder: CrossEncoder) -> None:
    """Free the torch weights once another runtime (ONNX Runtime, OpenVINO) holds the model.

    The module moves to the meta device: its structure, config and tokenizer stay (for ``reranker.model``
    and parameter counts), its tensors' memory (1.1 GB for v2-base in fp32) goes back to the system.
    """
    cross_encoder.to("meta")
