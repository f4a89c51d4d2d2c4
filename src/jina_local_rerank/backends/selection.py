"""Choose a backend and precision, and build its runner from the (cached) export of a loaded model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import CrossEncoder

from jina_local_rerank.backends import onnx_export, quantization
from jina_local_rerank.backends.export_cache import ExportKey, cached_export, checkpoint_revision
from jina_local_rerank.backends.extras import require
from jina_local_rerank.backends.runners import OnnxRuntimeRunner, OpenVinoRunner, Runner
from jina_local_rerank.models.checkpoint import Architecture
from jina_local_rerank.runtime.plan import backend_precision
from jina_local_rerank.text.examples import MODEL_CARD_DOCUMENTS, MODEL_CARD_QUERY

logger = logging.getLogger(__name__)

_OPENVINO_HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}
_EXTRAS = {"onnx": ("onnxruntime",), "openvino": ("openvino",)}


def check_backend(backend: str, dtype: str | torch.dtype | None, device: str | torch.device | None) -> str | None:
    """The precision a non-torch backend runs at (``None`` for torch), or a clear error up front.

    Also imports the backend's runtime, so a missing extra is reported before anything loads.
    """
    precision = backend_precision(backend, dtype, device)
    if backend == "torch" or precision is None:
        return None
    for module in _EXTRAS[backend]:
        require(module, backend)
    if backend == "openvino" and precision == "int8":
        require("nncf", "openvino")
    return precision


def load_runner(
    backend: str,
    precision: str,
    *,
    folder: Path,
    model_name: str,
    architecture: Architecture,
    cross_encoder: CrossEncoder,
    export_root: Path | None = None,
) -> Runner:
    """Export the model once per (model, revision, backend, precision), then open it in its runtime.

    ``cross_encoder`` is the loaded fp32 torch model; v2 is exported through its standard
    transformers form (``convert.native_v2_model``), everything else from the loaded module.
    """
    revision = checkpoint_revision(folder)
    with_token_types = (
        architecture is Architecture.GENERIC and "token_type_ids" in cross_encoder.tokenizer.model_input_names
    )

    def build_fp32(target: Path) -> None:
        if architecture is Architecture.JINA_V2:
            from jina_local_rerank.backends.conversion import native_v2_model

            model = native_v2_model(folder)
        else:
            assert cross_encoder.model is not None
            model = cross_encoder.model.float()
        onnx_export.export_onnx(onnx_export.graph_module(model, with_token_types), target / "model.onnx")

    # A local folder is named by its absolute path (the weights hash in the revision tells versions apart).
    label = str(Path(model_name).expanduser().resolve()) if Path(model_name).expanduser().is_dir() else model_name

    def key(name: str, variant: str) -> ExportKey:
        return ExportKey(label, revision, name, variant)

    fp32 = cached_export(key("onnx", "float32"), build_fp32, export_root) / "model.onnx"
    if backend == "onnx":
        if precision == "float32":
            return OnnxRuntimeRunner(fp32)

        def build_int8(target: Path) -> None:
            quantization.quantize_onnx_dynamic(fp32, target / "model.onnx")

        return OnnxRuntimeRunner(cached_export(key("onnx", "int8"), build_int8, export_root) / "model.onnx")
    if precision != "int8":
        # OpenVINO reads the same ONNX file; bf16 is an inference precision, not a separate export.
        return OpenVinoRunner(fp32, _OPENVINO_HINTS[precision])

    def build_openvino_int8(target: Path) -> None:
        quantization.quantize_openvino(fp32, target, calibration_features(cross_encoder, with_token_types))

    entry = cached_export(key("openvino", "int8"), build_openvino_int8, export_root)
    return OpenVinoRunner(entry / "model.xml", _OPENVINO_HINTS[precision])


def calibration_features(cross_encoder: CrossEncoder, with_token_types: bool) -> list[dict[str, np.ndarray]]:
    """Real multilingual text (the v2 model card's query and documents) as single-pair batches."""
    texts = [MODEL_CARD_QUERY, *MODEL_CARD_DOCUMENTS]
    pairs = [(MODEL_CARD_QUERY, document) for document in MODEL_CARD_DOCUMENTS]
    pairs += [
        (texts[i], texts[j]) for i in range(1, len(texts)) for j in range(len(texts)) if j % 3 == i % 3 and i != j
    ]
    samples = []
    for query, document in pairs:
        encoded = cross_encoder.tokenizer(query, document, truncation=True, return_tensors="np")
        sample = {
            "input_ids": encoded["input_ids"].astype(np.int64),
            "attention_mask": encoded["attention_mask"].astype(np.int64),
        }
        if with_token_types:
            sample["token_type_ids"] = encoded.get("token_type_ids", np.zeros_like(sample["input_ids"])).astype(
                np.int64
            )
        samples.append(sample)
    return samples
