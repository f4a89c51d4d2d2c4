"""Every adapter names its model the way the core does (``JINA_LOCAL_RERANK_MODEL``, else v2), and a
model that cannot be had says how to point the adapter itself at a local folder."""

from __future__ import annotations

import pytest
from conftest import V2_TINY

from jina_local_rerank import MODEL_ENV, ModelNotAvailableError, clear_shared_rerankers

MISSING = "example-org/not-a-cached-reranker"


def _langchain(**options):
    from langchain_jina_local import JinaLocalRerank

    return JinaLocalRerank(**options), lambda adapter: adapter.rerank(["a document"], "a query")


def _llama_index(**options):
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.jina_local_rerank import JinaLocalRerank

    nodes = [NodeWithScore(node=TextNode(text="a document"))]
    return JinaLocalRerank(**options), lambda adapter: adapter.postprocess_nodes(nodes, QueryBundle("a query"))


def _haystack(**options):
    from haystack import Document
    from haystack.utils import ComponentDevice
    from haystack_integrations.components.rankers.jina_local import JinaLocalRanker

    options["device"] = ComponentDevice.from_str(options["device"])
    return JinaLocalRanker(**options), lambda adapter: adapter.run(query="a query", documents=[Document(content="x")])


ADAPTERS = {"langchain": _langchain, "llama_index": _llama_index, "haystack": _haystack}
TERMS = {
    "langchain": "JinaLocalRerank(model='/path/to/not-a-cached-reranker')",
    "llama_index": "JinaLocalRerank(model='/path/to/not-a-cached-reranker')",
    "haystack": "JinaLocalRanker(model='/path/to/not-a-cached-reranker')",
}


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_environment_names_every_adapters_default_model(name, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(V2_TINY))
    adapter, _ = ADAPTERS[name](device="cpu")
    assert str(adapter.model) == str(V2_TINY)
    explicit, _ = ADAPTERS[name](model="elsewhere", device="cpu")
    assert str(explicit.model) == "elsewhere"


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_missing_model_is_explained_in_the_adapters_terms(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clear_shared_rerankers()
    adapter, call = ADAPTERS[name](model=MISSING, device="cpu")
    with pytest.raises(ModelNotAvailableError) as raised:
        call(adapter)
    assert TERMS[name] in str(raised.value)
    assert "Reranker('/path" not in str(raised.value)
