"""int8 variants of an exported fp32 ONNX model: ONNX Runtime's dynamic quantization and NNCF for OpenVINO."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jina_local_rerank.backends.extras import require

logger = logging.getLogger(__name__)

# OpenVINO operation types left unquantized by NNCF: everything around the matrix products.
_KEEP_FLOAT = [
    "Add",
    "Multiply",
    "Subtract",
    "Divide",
    "Softmax",
    "Tanh",
    "Erf",
    "Gelu",
    "Power",
    "Sqrt",
    "ReduceMean",
    "MVN",
    "Gather",
    "Concat",
    "Reshape",
    "Transpose",
]


def quantize_onnx_dynamic(source: Path, target: Path) -> None:
    """Weights int8 ahead of time, activations int8 per batch at run time (no calibration needed)."""
    require("onnx", "onnx")
    quantization = require("onnxruntime.quantization", "onnx")
    quantization.quantize_dynamic(
        str(source),
        str(target),
        weight_type=quantization.QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Gemm"],
        # Only products with a weight: attention's Q·K and P·V stay fp32 (quantizing them costs accuracy).
        extra_options={"MatMulConstBOnly": True},
    )


def quantize_openvino(source: Path, target: Path, calibration: Sequence[dict[str, np.ndarray]]) -> None:
    """NNCF post-training int8 (weights and activations) calibrated on real text; writes OpenVINO IR.

    Only the matrix products with a weight are quantized (the scheme NNCF's ``ModelType.TRANSFORMER`` aims at):
    LayerNorm, softmax, GELU and the residual adds stay fp32. ``ModelType.TRANSFORMER`` itself is not
    used: with nncf 3.4 / OpenVINO 2026.4 the model it produces from these exports fails to compile
    (a constant-folding error), and NNCF's default scheme, which also quantizes the adds, loses accuracy.
    """
    ov = require("openvino", "openvino")
    nncf = require("nncf", "openvino")
    model = ov.Core().read_model(str(source))
    names = [port.get_any_name() for port in model.inputs]
    samples = [{name: sample[name] for name in names if name in sample} for sample in calibration]
    quantized = nncf.quantize(
        model,
        nncf.Dataset(samples),
        subset_size=len(samples),
        preset=nncf.QuantizationPreset.MIXED,
        ignored_scope=nncf.IgnoredScope(names=_activation_products(model), types=_KEEP_FLOAT, validate=False),
    )
    ov.save_model(quantized, str(target / "model.xml"), compress_to_fp16=False)


def _activation_products(model: Any) -> list[str]:
    """Names of the matrix products of two activations (attention's Q·K and P·V): kept fp32."""
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        sources = [port.get_source_output().get_node().get_type_name() for port in op.inputs()]
        if "Constant" not in sources:
            names.append(op.get_friendly_name())
    return names
