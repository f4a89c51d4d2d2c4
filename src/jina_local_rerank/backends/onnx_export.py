"""Export a reranker to one ONNX file with dynamic batch and sequence axes.

Everything about *how* the graph is produced lives in ``export_onnx``, so a different exporter
(optimum, for example) replaces one function. The graphs take padded ``input_ids`` and
``attention_mask`` (plus ``token_type_ids`` for models that use them) and return logits [batch, labels].
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from jina_local_rerank.backends.extras import require
from jina_local_rerank.models.architectures.jina_bert import JinaBertForSequenceClassification, JinaBertSelfAttention

logger = logging.getLogger(__name__)

OPSET = 18


class SequenceClassifierGraph(nn.Module):
    """A transformers sequence classifier as ``(input_ids, attention_mask[, token_type_ids]) -> logits``."""

    def __init__(self, model: nn.Module, with_token_types: bool) -> None:
        super().__init__()
        self.model = model
        names = ("input_ids", "attention_mask", "token_type_ids")
        self.input_names = names if with_token_types else names[:2]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **types).logits


class JinaBertGraph(nn.Module):
    """JinaBERT with the ALiBi bias built in-graph for the batch's length (any length up to 8192).

    The torch module attends in query blocks with a Python loop over the length; a graph needs one
    attention over the whole sequence, so this forward reuses the model's layers with its own
    ``attend``: the same math, the bias ``-slope * |i - j|`` computed from the input's shape.
    """

    input_names = ("input_ids", "attention_mask")

    def __init__(self, model: JinaBertForSequenceClassification) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        bert = self.model.bert
        hidden = bert.embeddings(input_ids, torch.zeros_like(input_ids))
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        distance = (positions[None, :] - positions[:, None]).abs().to(hidden.dtype)
        slopes: torch.Tensor = bert.alibi_slopes
        alibi = -slopes.to(hidden.dtype)[:, None, None] * distance[None]
        padding = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        mask = alibi[None] + padding

        def attend(attention: JinaBertSelfAttention, states: torch.Tensor) -> torch.Tensor:
            batch, length, width = states.shape
            q, k, v = (
                proj(states).view(batch, length, attention.num_heads, attention.head_dim).transpose(1, 2)
                for proj in (attention.query, attention.key, attention.value)
            )
            context = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            return context.transpose(1, 2).reshape(batch, length, width)

        for layer in bert.encoder.layer:
            hidden = layer(hidden, attend)
        return self.model.classifier(bert.pooler(hidden[:, 0]))


def graph_module(model: nn.Module, with_token_types: bool) -> nn.Module:
    """The exportable forward of a loaded reranker model (fp32, eval mode)."""
    if isinstance(model, JinaBertForSequenceClassification):
        return JinaBertGraph(model).eval()
    return SequenceClassifierGraph(model, with_token_types).eval()


def export_onnx(graph: nn.Module, path: Path, sample_length: int = 16) -> None:
    """Write ``graph`` (see ``graph_module``) to ``path`` with torch's dynamo exporter, dynamic axes."""
    require("onnxscript", "onnx")  # the dynamo exporter translates through onnxscript
    input_names = list(graph.input_names)  # type: ignore[arg-type]
    # Batch 2 and a padded second row: nothing specializes on batch size 1 or on an all-ones mask.
    input_ids = torch.full((2, sample_length), 5, dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, sample_length // 2 :] = 0
    samples = [input_ids, attention_mask, torch.zeros_like(input_ids)][: len(input_names)]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(samples),
            str(path),
            dynamo=True,
            opset_version=OPSET,
            input_names=input_names,
            output_names=["logits"],
            dynamic_shapes=tuple({0: batch, 1: sequence} for _ in input_names),
            external_data=False,
            verbose=False,
        )
    logger.info("Exported %s to %s", type(graph).__name__, path)
