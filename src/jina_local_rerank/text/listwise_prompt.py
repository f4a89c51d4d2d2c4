"""jina-reranker-v3's listwise algorithm as pure functions: prompt, sanitising, truncation, blocks, merge.

The model reads one prompt holding the query, up to 125 documents and the query again; each
document's score is the cosine between its projected embedding and the query's. These functions
reproduce Jina's ``rerank`` step by step (``shared/specs/jina-rerankers.md`` section 6) without any
model: they take token counts, texts and embeddings, so each rule can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from jina_local_rerank.errors import InvalidArgumentError

DOCUMENT_MARKER = "<|embed_token|>"
QUERY_MARKER = "<|rerank_token|>"
MAX_BLOCK_DOCUMENTS = 125
DEFAULT_MAX_DOC_LENGTH = 2048
DEFAULT_MAX_QUERY_LENGTH = 512

SYSTEM_PROMPT = (
    "You are a search relevance expert who can determine a ranking of the passages based on how relevant "
    "they are to the query. If the query is a question, how relevant a passage is depends on how well it "
    "answers the question. If not, try to analyze the intent of the query and assess how well each passage "
    "satisfies the intent. If an instruction is provided, you should follow the instruction when determining "
    "the ranking."
)

# Cosine denominators below this count as zero (torch's cosine_similarity default).
COSINE_EPS = 1e-8


def sanitize(text: str, name: str) -> str:
    """Remove the two marker strings as Jina does (query marker first, one pass each).

    A marker that survives (``<|rerank_<|embed_token|>token|>`` leaves ``<|rerank_token|>``) would
    put a second marker into the prompt; Jina's code then crashes or scores the wrong documents, so
    this raises an ``InvalidArgumentError`` (a ValueError) naming ``name`` (e.g. ``documents[3]``) instead.
    """
    cleaned = text.replace(QUERY_MARKER, "").replace(DOCUMENT_MARKER, "")
    for marker in (QUERY_MARKER, DOCUMENT_MARKER):
        if marker in cleaned:
            raise InvalidArgumentError(
                f"{name} still contains the marker {marker!r} after the markers were removed once "
                "(a marker nested inside another, e.g. '<|rerank_<|embed_token|>token|>'). "
                f"jina-reranker-v3 reserves {QUERY_MARKER!r} and {DOCUMENT_MARKER!r}; remove them from the text."
            )
    return cleaned


def build_prompt(query: str, documents: Sequence[str], instruction: str | None = None) -> str:
    """The exact prompt of one block (spec 6.5); ``query`` and ``documents`` must be sanitised already.

    Passage ids restart at 0 in every block. ``instruction`` fills the prompt's ``<instruct>`` slot,
    which Jina's ``rerank`` never fills (it always passes None); an empty string counts as none.
    """
    body = (
        f"I will provide you with {len(documents)} passages, each indicated by a numerical identifier. "
        f"Rank the passages based on their relevance to query: {query}\n"
    )
    if instruction:
        body += f"<instruct>\n{instruction}\n</instruct>\n"
    body += "\n".join(
        f'<passage id="{index}">\n{document}{DOCUMENT_MARKER}\n</passage>' for index, document in enumerate(documents)
    )
    body += f"\n<query>\n{query}{QUERY_MARKER}\n</query>"
    return (
        f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{body}"
        "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


@dataclass(frozen=True)
class TruncatedText:
    """A text as it enters the prompt (re-decoded if it reached the limit) and its counted length."""

    text: str
    length: int
    truncated: bool


def truncate_texts(
    texts: Sequence[str],
    max_length: int,
    encode: Callable[[list[str], int], list[list[int]]],
    decode: Callable[[list[int]], str],
) -> list[TruncatedText]:
    """Jina's ``_truncate_texts``: cut each raw text to ``max_length`` tokens, counting its tokens.

    ``encode(texts, max_length)`` returns right-truncated ids; a text with ``>= max_length`` tokens is
    replaced by ``decode(ids)`` (so also one of exactly ``max_length`` tokens, which only normalises it;
    a cut inside a multi-byte character leaves U+FFFD). Lengths are counted before sanitising.
    """
    if not texts:
        return []
    results: list[TruncatedText] = []
    for text, ids in zip(texts, encode(list(texts), max_length)):
        if len(ids) >= max_length:
            results.append(TruncatedText(decode(ids), len(ids), True))
        else:
            results.append(TruncatedText(text, len(ids), False))
    return results


def plan_blocks(
    document_lengths: Sequence[int],
    query_length: int,
    model_max_length: int,
    max_doc_length: int,
    max_block_documents: int = MAX_BLOCK_DOCUMENTS,
) -> list[list[int]]:
    """Split documents (in input order) into blocks as Jina's ``rerank`` does (spec 6.6 steps 3-4).

    The capacity starts at ``model_max_length - 2 * query_length`` (the query is in the prompt twice);
    each document takes its length from it; a block closes once it holds ``max_block_documents`` or
    the remaining capacity is ``<= max_doc_length``. The prompt's fixed text and tags are not counted,
    so a block can run past ``model_max_length`` (as in Jina's code).
    """
    full = model_max_length - 2 * query_length
    blocks: list[list[int]] = []
    block: list[int] = []
    capacity = full
    for index, length in enumerate(document_lengths):
        block.append(index)
        capacity -= length
        if len(block) >= max_block_documents or capacity <= max_doc_length:
            blocks.append(block)
            block = []
            capacity = full
    if block:
        blocks.append(block)
    return blocks


def block_weight(block_scores: np.ndarray) -> np.float32:
    """A block's weight in the merged query embedding: ``max((1 + s) / 2)`` over its cosines, float32."""
    scores = np.asarray(block_scores, dtype=np.float32)
    return np.float32(np.max((np.float32(1) + scores) / np.float32(2)))


def merge_query_embeddings(query_embeddings: Sequence[np.ndarray], weights: Sequence[np.float32]) -> np.ndarray:
    """Weighted average of the blocks' projected query embeddings (float32), as ``np.average``.

    Jina's code divides by zero when every weight is 0 (every cosine exactly -1); then the plain
    mean is used.
    """
    stacked = np.stack([np.asarray(q, dtype=np.float32) for q in query_embeddings])
    weight_array = np.asarray(weights, dtype=np.float32)
    if not np.any(weight_array):
        return stacked.mean(axis=0, dtype=np.float32)
    return np.average(stacked, axis=0, weights=weight_array).astype(np.float32)


def cosine_scores(query_embedding: np.ndarray, document_embeddings: np.ndarray) -> np.ndarray:
    """Final scores: cosine of each document embedding with the merged query embedding, float32.

    A zero embedding (every ReLU unit off) scores 0 here; Jina's numpy code gives NaN.
    """
    query = np.asarray(query_embedding, dtype=np.float32)
    documents = np.asarray(document_embeddings, dtype=np.float32)
    dots = documents @ query
    norms = np.linalg.norm(documents, axis=1) * np.linalg.norm(query)
    return (dots / np.maximum(norms, np.float32(COSINE_EPS))).astype(np.float32)


def marker_spans(marker_positions: Sequence[int], prompt_length: int) -> list[range]:
    """Cut a prompt into one token span per document, ending at its marker; the last runs to the end.

    The spans cover the prompt exactly once, so summing them counts every prompt token once
    (what usage reports); each holds the tokens that precede its document's marker.
    """
    spans: list[range] = []
    start = 0
    for number, position in enumerate(marker_positions):
        end = prompt_length if number == len(marker_positions) - 1 else position + 1
        spans.append(range(start, end))
        start = end
    return spans
