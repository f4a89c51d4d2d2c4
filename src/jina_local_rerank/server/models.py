"""Which models this server answers for, under which names, and how it counts their tokens."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from jina_local_rerank.reranker import Reranker
from jina_local_rerank.server.errors import InvalidRequest, ModelNotServed
from jina_local_rerank.text import listwise_prompt as listwise
from jina_local_rerank.text.tokenization import PairTokenizer


def served_names(reranker: Reranker) -> list[str]:
    """Names a model answers to: a local folder by its folder name only (never its path); a hub id
    by its short name (``jina-reranker-v2-base-multilingual``, as Jina's API calls it) and its full id."""
    source = reranker.model_name
    short = PurePath(source).name or source
    if os.path.isdir(source):
        return [short]
    return [short] if short == source else [short, source]


@dataclass
class ServedModel:
    """One loaded model: its main name (listed), its other names (accepted), and the reranker."""

    name: str
    reranker: Reranker
    aliases: list[str] = field(default_factory=list)
    _counter: PairTokenizer | None = field(default=None, init=False, repr=False)

    @property
    def description(self) -> str:
        """``name (device, dtype) [plan]``: the execution plan once the model is loaded, and the score cache's size."""
        dtype = str(self.reranker.dtype).removeprefix("torch.")
        plan = self.reranker.plan
        cache = self.reranker.cache
        return (
            f"{self.name} ({self.reranker.device}, {dtype})"
            + (f" [{plan.describe()}]" if plan else "")
            + (f" [score cache: {cache.capacity} entries]" if cache is not None else "")
        )

    def prepare_counter(self) -> PairTokenizer:
        """The private tokenizer copy; made at startup, before any scoring can use the original."""
        if self._counter is None:
            self._counter = PairTokenizer(copy.deepcopy(self.reranker.tokenizer))
        return self._counter

    def count_tokens(self, query: str, documents: list[str]) -> int:
        """Tokens of the request as the model sees them: the query (cut to half the model's window, as
        windows cut it) with the special tokens once per document, plus every document's tokens.

        Long documents are read in overlapping windows that repeat the query, so the model may read a
        little more; the estimate is what the limit is checked against. A private copy of the tokenizer
        is used, so counting never contends with scoring.
        """
        if not documents:
            return 0
        counter = self.prepare_counter()
        query_ids, *document_ids = counter.encode_texts([query, *documents])
        if self.reranker.is_listwise:
            # jina-reranker-v3: one prompt per block of documents (each cut to its limit), holding the
            # query twice and the prompt's own text; measured on the empty prompt and a one-passage one.
            empty, one = (
                len(ids)
                for ids in counter.encode_texts([listwise.build_prompt("", []), listwise.build_prompt("", ["x"])])
            )
            blocks = -(-len(documents) // listwise.MAX_BLOCK_DOCUMENTS)
            query_tokens = min(len(query_ids), listwise.DEFAULT_MAX_QUERY_LENGTH)
            cut = [min(len(ids), listwise.DEFAULT_MAX_DOC_LENGTH) for ids in document_ids]
            return (empty + 2 * query_tokens) * blocks + sum(cut) + max(0, one - empty - 1) * len(documents)
        query_tokens = min(len(query_ids), self.reranker.max_length // 2)
        per_document = query_tokens + counter.template.num_special_tokens
        return per_document * len(documents) + sum(len(ids) for ids in document_ids)


class ModelTable:
    """Served models by name; ``pick`` resolves a request's ``model`` field."""

    def __init__(self, models: Mapping[str, Reranker] | Sequence[Reranker | str]) -> None:
        self.models: list[ServedModel] = []
        self._by_name: dict[str, ServedModel] = {}
        if isinstance(models, Mapping):
            pairs = [(name, reranker) for name, reranker in models.items()]
        else:
            pairs = []
            for item in models:
                reranker = item if isinstance(item, Reranker) else Reranker(item, lazy=True)
                pairs += [(name, reranker) for name in served_names(reranker)]
        by_reranker: dict[int, ServedModel] = {}
        for name, reranker in pairs:
            if name in self._by_name:
                continue
            served = by_reranker.get(id(reranker))
            if served is None:
                served = by_reranker[id(reranker)] = ServedModel(name, reranker)
                self.models.append(served)
            else:
                served.aliases.append(name)
            self._by_name[name] = served
        if not self.models:
            raise ValueError("The server needs at least one model.")

    @property
    def names(self) -> list[str]:
        return [model.name for model in self.models]

    def pick(self, requested: str | None) -> ServedModel:
        if requested is None:
            if len(self.models) == 1:
                return self.models[0]
            raise InvalidRequest(f"'model' is required; served models: {self.names}.")
        served = self._by_name.get(requested)
        if served is None:
            shown = requested if len(requested) <= 100 else requested[:99] + "…"
            raise ModelNotServed(f"Model {shown!r} is not served here; served models: {self.names}.")
        return served
