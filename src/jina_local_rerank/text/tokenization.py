"""Thread-safe tokenization of query/document pairs and of Jina-style windows.

Fast tokenizers are not safe to call from several threads at once ("Already borrowed"): every call
here goes through one lock, and the templates are derived once, so the hot path never mutates the
tokenizer's truncation or padding state concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from jina_local_rerank import compat
from jina_local_rerank.text.repair import repair_texts
from jina_local_rerank.text.truncation import initial_cut, longest_first_lengths, word_break


@dataclass(frozen=True)
class EncodedPair:
    """Model-ready ids of one (query, document-or-window) pair; token types only if the model uses them."""

    input_ids: list[int]
    token_type_ids: list[int] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class PairTemplate:
    """Special tokens around a pair: ``prefix Q middle D suffix`` (XLM-R: ``<s> Q </s></s> D </s>``)."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    query_type: int = 0
    document_type: int = 0

    @property
    def num_special_tokens(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def build(self, query: Sequence[int], document: Sequence[int], with_types: bool) -> EncodedPair:
        ids = [*self.prefix, *query, *self.middle, *document, *self.suffix]
        if not with_types:
            return EncodedPair(ids)
        head = len(self.prefix) + len(query) + len(self.middle)
        return EncodedPair(ids, [self.query_type] * head + [self.document_type] * (len(ids) - head))


def _derive_template(tokenizer: PreTrainedTokenizerBase) -> PairTemplate:
    """Find the special tokens the tokenizer's own pair template puts around two probe texts."""
    query = tokenizer("a", add_special_tokens=False)["input_ids"]
    document = tokenizer("b", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", "b", return_token_type_ids=True)
    ids, types = full["input_ids"], full.get("token_type_ids")
    for start in range(len(ids)):
        if ids[start : start + len(query)] != query:
            continue
        after_query = start + len(query)
        for doc_start in range(after_query, len(ids)):
            if ids[doc_start : doc_start + len(document)] == document:
                doc_end = doc_start + len(document)
                return PairTemplate(
                    prefix=tuple(ids[:start]),
                    middle=tuple(ids[after_query:doc_start]),
                    suffix=tuple(ids[doc_end:]),
                    query_type=types[start] if types else 0,
                    document_type=types[doc_start] if types else 0,
                )
    raise ValueError(f"Could not derive the pair template of tokenizer {type(tokenizer).__name__}.")


class PairTokenizer:
    """Tokenizes pairs exactly like Jina's ``compute_score`` and windows like its ``rerank``."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self._lock = threading.Lock()
        self.uses_token_types = "token_type_ids" in tokenizer.model_input_names
        with self._lock:
            self.template = _derive_template(tokenizer)
            self.num_single_special_tokens = len(tokenizer("a")["input_ids"]) - len(
                tokenizer("a", add_special_tokens=False)["input_ids"]
            )
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._backend = compat.fast_backend(tokenizer)
        # Documents are tokenized whole before windowing; the "longer than the maximum" warning
        # would be noise, so mark it as already shown.
        compat.silence_length_warning(tokenizer)

    def encode_pairs(self, queries: list[str], documents: list[str], max_length: int) -> list[EncodedPair]:
        """``longest_first`` pair truncation to ``max_length`` tokens, as ``truncation=True`` does.

        Only a bounded head of each text is tokenized (``head_ids``), so memory and time stay flat
        however long the texts are; the ids are those of the tokenizer's own pair truncation.
        """
        budget = max_length - self.template.num_special_tokens
        heads = self.head_ids([*queries, *documents], budget)
        query_heads, document_heads = heads[: len(queries)], heads[len(queries) :]
        pairs: list[EncodedPair] = []
        for query, document, (query_ids, query_longer), (document_ids, document_longer) in zip(
            queries, documents, query_heads, document_heads
        ):
            query_length, document_length = len(query_ids), len(document_ids)
            if query_longer and document_longer and budget % 2:
                # Both sides are cut to half the budget and the longer one keeps the odd token:
                # which one that is takes their full lengths.
                query_length, document_length = self.count_tokens([query, document])
            elif query_longer or document_longer:
                query_length += query_longer
                document_length += document_longer
            keep_query, keep_document = longest_first_lengths(query_length, document_length, budget)
            pairs.append(self.build(query_ids[:keep_query], document_ids[:keep_document]))
        return pairs

    def head_ids(self, texts: list[str], limit: int) -> list[tuple[list[int], bool]]:
        """Each text's first ``limit`` content ids, and whether it has more, without tokenizing it whole.

        A long text is cut after a generous number of characters and tokenized with offsets; the
        leading ids count only if they end before the cut text's last word break (no pre-tokenizer
        merges across whitespace, so later text cannot change them). Otherwise the cut grows.
        """
        texts = repair_texts(texts)
        cut = initial_cut(limit + 1)
        heads: list[tuple[list[int], bool] | None] = [None] * len(texts)
        short = [i for i, text in enumerate(texts) if len(text) <= cut or self._backend is None]
        for i, ids in zip(short, self.encode_texts([texts[i] for i in short])):
            heads[i] = (ids[:limit], len(ids) > limit)
        for i, text in enumerate(texts):
            if heads[i] is None:
                heads[i] = self._head_of_long_text(text, limit, cut)
        return [head for head in heads if head is not None]

    def _head_of_long_text(self, text: str, limit: int, cut: int) -> tuple[list[int], bool]:
        assert self._backend is not None
        while cut < len(text):
            piece = text[:cut]
            boundary = word_break(piece)
            if boundary is None:
                break  # one unbroken run of characters: only the whole text is safe
            with self._lock:
                self._backend.no_truncation()
                self._backend.no_padding()
                encoding = self._backend.encode_batch([piece], add_special_tokens=False)[0]
            if len(encoding.ids) > limit and encoding.offsets[limit][1] <= boundary:
                return list(encoding.ids[:limit]), True
            cut *= 2
        ids = self.encode_texts([text])[0]
        return ids[:limit], len(ids) > limit

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Content tokens of each whole text (linear in its length: no pair truncation involved)."""
        return [len(ids) for ids in self.encode_texts(repair_texts(texts))]

    def encode_texts(self, texts: list[str]) -> list[list[int]]:
        """Content ids without special tokens and without truncation (unencodable characters as U+FFFD)."""
        if not texts:
            return []
        texts = repair_texts(texts)
        with self._lock:
            if self._backend is not None:
                # The Rust tokenizer directly, without offsets: the same ids, about 1.5x faster than
                # the Python wrapper on a 100-document request. Its truncation/padding state is
                # shared with the wrapper (which sets its own on every call), so clear it first.
                self._backend.no_truncation()
                self._backend.no_padding()
                return [encoding.ids for encoding in self._backend.encode_batch_fast(texts, add_special_tokens=False)]
            encoded = self.tokenizer(texts, add_special_tokens=False, truncation=False, padding=False)
        return [list(ids) for ids in encoded["input_ids"]]

    def build(self, query: Sequence[int], window: Sequence[int]) -> EncodedPair:
        return self.template.build(query, window, self.uses_token_types)
