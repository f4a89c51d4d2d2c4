"""Run jina-reranker-v3's ``rerank`` on the native model: truncate, block, forward, merge.

``ListwiseScorer.score_many`` takes several (query, documents) requests, plans every request's
blocks exactly as Jina's ``rerank`` (``listwise.py``), tokenizes all prompts at once and runs them
packed end to end (no padding), as many blocks per forward as the token budget allows, then merges
each request's block query embeddings and scores every document against the merged query.

With a score cache, blocks are cached, not documents: a document's embedding depends on the whole
prompt, so the key is the digest of a block's full prompt ids, and the value is what the forward
gave (cosines, weight, query and document embeddings); merging is cheap and always redone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from jina_local_rerank.errors import CheckpointMismatchError
from jina_local_rerank.models.architectures.qwen3_listwise import JinaListwiseModel, PackedBlocks, load_listwise_model
from jina_local_rerank.models.checkpoint import read_config
from jina_local_rerank.results import DocumentScores, ScoredWindow
from jina_local_rerank.scoring.score_cache import CacheKey, ModelFingerprint, ScoreCache, input_digest
from jina_local_rerank.text import listwise_prompt as listwise
from jina_local_rerank.text import validation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListwiseBlock:
    """One prompt that ran: which documents (request positions), its ids, cosines, weight, query embedding."""

    document_indices: list[int]
    input_ids: list[int]
    document_positions: list[int]  # token index of each document's marker in input_ids
    scores: np.ndarray  # block cosines (torch), float32
    weight: np.float32
    query_embedding: np.ndarray  # [embedding_size] float32
    document_embeddings: np.ndarray  # [documents, embedding_size] float32


@dataclass(frozen=True)
class BlockOutputs:
    """What one block's forward gave, as a score cache keeps it (arrays read-only, shared by every hit)."""

    scores: np.ndarray
    weight: np.float32
    query_embedding: np.ndarray
    document_embeddings: np.ndarray

    @classmethod
    def of(cls, block: ListwiseBlock) -> BlockOutputs:
        for array in (block.scores, block.query_embedding, block.document_embeddings):
            array.setflags(write=False)
        return cls(block.scores, block.weight, block.query_embedding, block.document_embeddings)


@dataclass(frozen=True)
class ListwiseScores:
    """One request's result: final cosines in input order, every embedding and block behind them."""

    scores: list[float]
    document_embeddings: np.ndarray  # [documents, embedding_size] float32, projected, not normalised
    query_embedding: np.ndarray | None  # merged over blocks; None without documents
    blocks: list[ListwiseBlock] = field(default_factory=list)
    query_length: int = 0
    document_lengths: list[int] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Prompt tokens the model read (what APIs bill as usage)."""
        return sum(len(block.input_ids) for block in self.blocks)


@dataclass
class _PlannedBlock:
    request: int
    document_indices: list[int]
    input_ids: list[int] = field(default_factory=list)
    document_positions: list[int] = field(default_factory=list)
    query_position: int = -1


class ListwiseScorer:
    """The v3 tokenizer and model, and the block algorithm around them; safe to share across threads.

    With a ``cache``, a block whose prompt ran before (same ``fingerprint``) is not run again.
    """

    def __init__(
        self,
        model: JinaListwiseModel,
        tokenizer: PreTrainedTokenizerBase,
        token_budget: int,
        cache: ScoreCache[BlockOutputs] | None = None,
        fingerprint: ModelFingerprint = (),
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.token_budget = token_budget
        self.cache = cache
        self.fingerprint = fingerprint
        self.document_token_id = self._marker_id(listwise.DOCUMENT_MARKER)
        self.query_token_id = self._marker_id(listwise.QUERY_MARKER)

    @classmethod
    def load(
        cls,
        folder: Path,
        raw_config: dict[str, Any],
        *,
        device: torch.device,
        dtype: torch.dtype,
        token_budget: int,
        cache: ScoreCache[BlockOutputs] | None = None,
        fingerprint: ModelFingerprint = (),
    ) -> ListwiseScorer:
        """Native model and the checkpoint's own tokenizer; never with remote code."""
        model = load_listwise_model(folder, raw_config, device=device, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        return cls(model, tokenizer, token_budget, cache, fingerprint)

    def _marker_id(self, marker: str) -> int:
        ids = self.tokenizer(marker, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise CheckpointMismatchError(
                f"The tokenizer does not have jina-reranker-v3's marker token {marker!r} (it encodes to {ids})."
            )
        return int(ids[0])

    @property
    def model_max_length(self) -> int:
        """The tokenizer's limit: what Jina's ``rerank`` sizes blocks by (prompts are never cut to it)."""
        return int(self.tokenizer.model_max_length)

    # ------------------------------------------------------------------ tokenization

    def _encode(self, texts: list[str], max_length: int) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=max_length, add_special_tokens=False)["input_ids"]

    def _decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids)
        assert isinstance(text, str)
        return text

    def truncate(self, texts: Sequence[str], max_length: int) -> list[listwise.TruncatedText]:
        """``listwise.truncate_texts`` with this tokenizer."""
        return listwise.truncate_texts(texts, max_length, self._encode, self._decode)

    # ------------------------------------------------------------------ scoring

    def score_many(
        self,
        requests: Sequence[tuple[str, Sequence[str]]],
        *,
        max_query_length: int = listwise.DEFAULT_MAX_QUERY_LENGTH,
        max_doc_length: int = listwise.DEFAULT_MAX_DOC_LENGTH,
        instruction: str | None = None,
        max_blocks_per_forward: int | None = None,
    ) -> list[ListwiseScores]:
        """Each request scored as Jina's ``rerank`` would score it alone; forwards are shared.

        Texts are checked (nested markers) before any forward. A request without documents gives
        empty scores (Jina's code divides by zero there). ``max_blocks_per_forward`` caps how many
        blocks share a forward (``None``: as many as the token budget holds).
        """
        if instruction is not None:
            instruction = listwise.sanitize(instruction, "instruction")
        planned: list[_PlannedBlock] = []
        lengths: list[tuple[int, list[int]]] = []
        prompts: list[str] = []
        for request_index, (query, documents) in enumerate(requests):
            if not documents:
                lengths.append((0, []))
                continue
            (query_text,) = self.truncate([query], max_query_length)
            document_texts = self.truncate(documents, max_doc_length)
            clean_query = listwise.sanitize(query_text.text, "query")
            clean_documents = [
                listwise.sanitize(text.text, f"documents[{position}]") for position, text in enumerate(document_texts)
            ]
            document_lengths = [text.length for text in document_texts]
            lengths.append((query_text.length, document_lengths))
            for indices in listwise.plan_blocks(
                document_lengths, query_text.length, self.model_max_length, max_doc_length
            ):
                planned.append(_PlannedBlock(request_index, indices))
                prompts.append(
                    listwise.build_prompt(clean_query, [clean_documents[i] for i in indices], instruction=instruction)
                )
        if prompts:
            encoded = self.tokenizer(prompts, add_special_tokens=False, verbose=False)["input_ids"]
            for block, ids in zip(planned, encoded):
                block.input_ids = list(ids)
                block.document_positions, block.query_position = self._marker_positions(
                    block.input_ids, len(block.document_indices)
                )
        ran = self._run_blocks(planned, max_blocks_per_forward)
        return [self._merge(request_index, requests, planned, ran, lengths) for request_index in range(len(requests))]

    def _run_blocks(self, planned: list[_PlannedBlock], max_blocks: int | None) -> list[ListwiseBlock]:
        """Forward every block not cached, packed several to a forward (shortest first) up to the token budget."""
        keys: list[CacheKey] = []
        cached: list[BlockOutputs | None] = [None] * len(planned)
        if self.cache is not None and planned:
            keys = [(self.fingerprint, input_digest(block.input_ids)) for block in planned]
            cached = self.cache.get_many(keys)
        results: list[ListwiseBlock | None] = [
            None if outputs is None else _rebuilt(block, outputs) for block, outputs in zip(planned, cached)
        ]
        missing = [i for i, outputs in enumerate(cached) if outputs is None]
        self._run_missing(planned, missing, max_blocks, results)
        if self.cache is not None:
            self.cache.put_many((keys[i], BlockOutputs.of(_ran(results[i]))) for i in missing)
        return [_ran(block) for block in results]

    def _run_missing(
        self,
        planned: list[_PlannedBlock],
        missing: list[int],
        max_blocks: int | None,
        results: list[ListwiseBlock | None],
    ) -> None:
        """Forward the ``missing`` blocks into ``results``, packed several to a forward up to the token budget."""
        order = sorted(missing, key=lambda i: len(planned[i].input_ids))
        group: list[int] = []
        tokens = 0
        for index in order:  # shortest first: a group's prompts are of similar length
            length = len(planned[index].input_ids)
            if group and (tokens + length > self.token_budget or len(group) == max_blocks):
                self._run_group(planned, group, results)
                group, tokens = [], 0
            group.append(index)
            tokens += length
        if group:
            self._run_group(planned, group, results)

    def _run_group(self, planned: list[_PlannedBlock], group: list[int], results: list[ListwiseBlock | None]) -> None:
        """One packed forward for the group's blocks; out of GPU memory, the group is split and retried."""
        try:
            self._forward_group(planned, group, results)
        except torch.OutOfMemoryError:
            if len(group) == 1:
                raise
            logger.warning("Out of memory on %d packed blocks; retrying in two halves", len(group))
            if self.model.device.type == "cuda":
                torch.cuda.empty_cache()
            half = len(group) // 2
            self._run_group(planned, group[:half], results)
            self._run_group(planned, group[half:], results)

    def _forward_group(
        self, planned: list[_PlannedBlock], group: list[int], results: list[ListwiseBlock | None]
    ) -> None:
        prompts = [planned[i].input_ids for i in group]
        packed = PackedBlocks.from_prompts(prompts)
        positions: list[int] = []
        offset = 0
        for index, ids in zip(group, prompts):
            block = planned[index]
            positions.extend(offset + p for p in [*block.document_positions, block.query_position])
            offset += len(ids)
        with torch.inference_mode():
            embeddings = self.model.embed_positions(packed, torch.tensor(positions, dtype=torch.long)).float()
            start = 0
            for index in group:
                documents = planned[index].document_positions
                rows = embeddings[start : start + len(documents) + 1]
                start += len(documents) + 1
                block_documents, block_query = rows[:-1], rows[-1]
                cosines = torch.nn.functional.cosine_similarity(
                    block_documents, block_query[None].expand_as(block_documents), dim=-1, eps=listwise.COSINE_EPS
                )
                scores = cosines.cpu().numpy().astype(np.float32)
                results[index] = ListwiseBlock(
                    document_indices=planned[index].document_indices,
                    input_ids=planned[index].input_ids,
                    document_positions=documents,
                    scores=scores,
                    weight=listwise.block_weight(scores),
                    query_embedding=block_query.cpu().numpy().astype(np.float32),
                    document_embeddings=block_documents.cpu().numpy().astype(np.float32),
                )

    def _marker_positions(self, ids: list[int], documents: int) -> tuple[list[int], int]:
        ids_array = np.asarray(ids)
        document_positions = np.flatnonzero(ids_array == self.document_token_id).tolist()
        query_positions = np.flatnonzero(ids_array == self.query_token_id).tolist()
        if len(document_positions) != documents or len(query_positions) != 1:
            raise RuntimeError(
                f"A prompt of {documents} documents holds {len(document_positions)} document markers and "
                f"{len(query_positions)} query markers; sanitising should have made them {documents} and 1."
            )
        return document_positions, query_positions[0]

    def _merge(
        self,
        request_index: int,
        requests: Sequence[tuple[str, Sequence[str]]],
        planned: list[_PlannedBlock],
        ran: list[ListwiseBlock],
        lengths: list[tuple[int, list[int]]],
    ) -> ListwiseScores:
        blocks = [block for plan, block in zip(planned, ran) if plan.request == request_index]
        query_length, document_lengths = lengths[request_index]
        count = len(requests[request_index][1])
        if not blocks:
            return ListwiseScores([], np.zeros((0, self.model.embedding_size), np.float32), None)
        embeddings = np.zeros((count, blocks[0].query_embedding.shape[0]), dtype=np.float32)
        for block in blocks:
            embeddings[block.document_indices] = block.document_embeddings
        merged = listwise.merge_query_embeddings(
            [block.query_embedding for block in blocks], [block.weight for block in blocks]
        )
        scores = listwise.cosine_scores(merged, embeddings)
        return ListwiseScores(
            scores=[float(s) for s in scores],
            document_embeddings=embeddings,
            query_embedding=merged,
            blocks=blocks,
            query_length=query_length,
            document_lengths=document_lengths,
        )


def _rebuilt(block: _PlannedBlock, outputs: BlockOutputs) -> ListwiseBlock:
    """A cached block's result for this request's planned block (its document positions may differ)."""
    return ListwiseBlock(
        document_indices=block.document_indices,
        input_ids=block.input_ids,
        document_positions=block.document_positions,
        scores=outputs.scores,
        weight=outputs.weight,
        query_embedding=outputs.query_embedding,
        document_embeddings=outputs.document_embeddings,
    )


def _ran(block: ListwiseBlock | None) -> ListwiseBlock:
    assert block is not None, "every block is either cached or run"
    return block


def load_listwise_scorer(
    folder: Path,
    *,
    device: torch.device,
    dtype: torch.dtype,
    token_budget: int,
    cache: ScoreCache[BlockOutputs] | None = None,
    fingerprint: ModelFingerprint = (),
) -> ListwiseScorer:
    """jina-reranker-v3 natively (transformers' ``Qwen3Model`` + projector); never with remote code."""
    scorer = ListwiseScorer.load(
        folder,
        read_config(folder),
        device=device,
        dtype=dtype,
        token_budget=token_budget,
        cache=cache,
        fingerprint=fingerprint,
    )
    logger.info("Loaded %s (%s) on %s as %s", folder, "jina-reranker-v3", device, dtype)
    return scorer


def listwise_document_limit(max_length: int | None, max_doc_length: int | None, default: int) -> int:
    """jina-reranker-v3's per-document token limit: ``max_doc_length``, or ``max_length`` as its alias."""
    validation.check_positive_int("max_doc_length", max_doc_length)
    validation.check_positive_int("max_length", max_length)
    if max_length is not None and max_doc_length is not None and max_length != max_doc_length:
        raise ValueError(
            f"max_length={max_length} and max_doc_length={max_doc_length} disagree: for jina-reranker-v3 both "
            "name the per-document token limit; pass one."
        )
    limit = max_doc_length if max_doc_length is not None else max_length
    return default if limit is None else limit


def listwise_document_scores(result: ListwiseScores) -> DocumentScores:
    """A listwise result as ``DocumentScores``: one window per document, the prompt tokens up to its marker."""
    windows: list[ScoredWindow] = []
    for block in result.blocks:
        spans = listwise.marker_spans(block.document_positions, len(block.input_ids))
        for document_index, span in zip(block.document_indices, spans):
            windows.append(
                ScoredWindow(document_index, block.input_ids[span.start : span.stop], result.scores[document_index])
            )
    return DocumentScores(list(result.scores), windows)


def score_listwise_requests(
    scorer: ListwiseScorer,
    requests: Sequence[tuple[str, Sequence[str]]],
    *,
    max_query_length: int | None,
    max_length: int | None,
    max_doc_length: int | None,
    overlap: int | None,
    instruction: str | None,
    batch_size: int | None,
    default_doc_length: int = listwise.DEFAULT_MAX_DOC_LENGTH,
) -> list[DocumentScores]:
    """jina-reranker-v3's ``rerank`` for each request (see ``Reranker.rerank``), as ``DocumentScores``."""
    checked = [(validation.check_query(q), validation.check_documents(d)) for q, d in requests]
    if overlap is not None:
        raise ValueError(
            "overlap does not apply to jina-reranker-v3: it reads whole documents (cut to max_doc_length "
            "tokens) in one listwise prompt, without windows. Leave overlap=None."
        )
    if instruction is not None and not isinstance(instruction, str):
        raise TypeError(f"instruction must be a str or None, got {type(instruction).__name__}.")
    validation.check_positive_int("batch_size", batch_size)
    doc_limit = listwise_document_limit(max_length, max_doc_length, default_doc_length)
    query_limit = validation.check_positive_int("max_query_length", max_query_length)
    results = scorer.score_many(
        checked,
        max_query_length=query_limit or listwise.DEFAULT_MAX_QUERY_LENGTH,
        max_doc_length=doc_limit,
        instruction=instruction,
        max_blocks_per_forward=batch_size,
    )
    return [listwise_document_scores(result) for result in results]
