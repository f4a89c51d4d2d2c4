"""CUDA graphs of the packed forward: one replay instead of ~200 kernel launches from Python.

A 100-document query on an H100 spends as long launching kernels as the GPU spends running them
(docs/performance.md). Packed batches are padded to a few bucketed shapes (tokens rounded up by at
most 12.5%, sequence slots to a power of two, the longest window to a power of two), each shape is
captured once, and later batches of that shape copy their tokens in and replay it. Padding happens
on the host, so a batch costs four host-to-device copies and one replay. Graphs share one
memory pool and replay under the scorer's forward lock, one at a time; each replay's logits are
copied out at once, so a later replay may reuse their memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.cuda.packing import PACKED_KEY, bucket_tokens, pad_packed

logger = logging.getLogger(__name__)

PackedForward = Callable[[dict[str, Any]], torch.Tensor]


@dataclass(frozen=True)
class GraphShape:
    tokens: int
    sequences: int
    max_seqlen: int


def graph_shape(total_tokens: int, sequences: int, max_seqlen: int) -> GraphShape:
    """The bucket a packed batch is padded to (see module doc)."""
    longest = 1 << max(6, (max_seqlen - 1).bit_length())
    tokens = bucket_tokens(total_tokens)
    dummies = -(-(tokens - total_tokens) // longest)
    slots = 1 << max(4, (sequences + dummies - 1).bit_length())
    return GraphShape(tokens, slots, longest)


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: dict[str, Any]
    logits: torch.Tensor


class PackedGraphs:
    """Runs a packed forward through captured CUDA graphs, eagerly where a graph cannot be used."""

    def __init__(self, forward: PackedForward, pad_token_id: int, device: torch.device, max_graphs: int = 32) -> None:
        self.forward = forward
        self.pad_token_id = pad_token_id
        self.device = device
        self.max_graphs = max_graphs
        self.enabled = True
        self._graphs: dict[GraphShape, _Captured] = {}
        self._pool: Any = None

    @property
    def captured(self) -> int:
        """How many shapes have a captured graph."""
        return len(self._graphs)

    def __call__(self, features: dict[str, Any]) -> torch.Tensor:
        """Logits of packed host features (``packing.packed_features``)."""
        if not self.enabled:
            return self._eager(features)
        sequences = features[PACKED_KEY].shape[0] - 1
        shape = graph_shape(int(features["input_ids"].shape[0]), sequences, int(features["max_seqlen"]))
        captured = self._graphs.get(shape)
        if captured is None and len(self._graphs) >= self.max_graphs:
            return self._eager(features)  # a rare shape: not worth another graph's capture
        padded = pad_packed(features, shape.tokens, shape.sequences, shape.max_seqlen, self.pad_token_id)
        if captured is None:
            captured = self._capture(shape, padded)
            if captured is None:
                return self._eager(features)
        for name, tensor in captured.inputs.items():
            if isinstance(tensor, torch.Tensor):
                tensor.copy_(padded[name].pin_memory(), non_blocking=True)
        captured.graph.replay()
        return captured.logits[:sequences].clone()

    def _eager(self, features: dict[str, Any]) -> torch.Tensor:
        return self.forward(hardware.to_device(features, self.device))

    def _capture(self, shape: GraphShape, example: dict[str, Any]) -> _Captured | None:
        inputs = hardware.to_device(example, self.device)
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up outside the graph: cuBLAS handles, kernel selection
                    self.forward(inputs)
            torch.cuda.current_stream().wait_stream(side)
            if self._pool is None:
                self._pool = torch.cuda.graph_pool_handle()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):
                logits = self.forward(inputs)
        except torch.OutOfMemoryError:
            raise  # the scorer splits the batch and retries; smaller shapes get their own graphs
        except Exception as error:  # noqa: BLE001 - any other capture failure: run eagerly from now on
            logger.warning("CUDA graph capture failed (%s); running packed batches eagerly.", error)
            self.enabled = False
            return None
        logger.debug("Captured a CUDA graph for %s (%d graphs)", shape, len(self._graphs) + 1)
        self._graphs[shape] = _Captured(graph, inputs, logits)
        return self._graphs[shape]
