"""Runners: a compiled model that maps padded int64 feature arrays to logits, for ``PairScorer``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from jina_local_rerank.backends.extras import require


class Runner(Protocol):
    """What ``inference.PairScorer`` calls instead of the torch model's forward."""

    input_names: tuple[str, ...]

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Logits [batch, labels] of one padded batch."""
        ...


class OnnxRuntimeRunner:
    """An ONNX Runtime CPU session over one ONNX file."""

    def __init__(self, path: Path) -> None:
        ort = require("onnxruntime", "onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(item.name for item in self.session.get_inputs())

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {name: _int64(features, name) for name in self.input_names}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)


class OpenVinoRunner:
    """An OpenVINO CPU model (read from ONNX or OpenVINO IR) at a chosen inference precision."""

    def __init__(self, path: Path, inference_precision: str) -> None:
        ov = require("openvino", "openvino")
        core = ov.Core()
        model = core.read_model(str(path))
        self.input_names = tuple(port.get_any_name() for port in model.inputs)
        # Explicit: on CPUs with bf16 units OpenVINO would otherwise pick bf16 by itself.
        self.compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": inference_precision})
        self._output = self.compiled.output(0)

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {name: _int64(features, name) for name in self.input_names}
        # A fresh request per call: callers may score from several threads.
        request = self.compiled.create_infer_request()
        return np.asarray(request.infer(feeds)[self._output], dtype=np.float32)


def _int64(features: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name in features:
        return np.ascontiguousarray(features[name], dtype=np.int64)
    if name == "token_type_ids":  # a model that has token types, fed by a tokenizer that gives none
        return np.zeros_like(features["input_ids"], dtype=np.int64)
    raise ValueError(f"The exported model needs an input {name!r} that the tokenizer does not produce.")
