"""Property tests of the three adapters: any text, any document list, any option value.

Each call either returns the documented result (a ranking of the caller's documents, best first,
scores in [0, 1], inputs untouched) or raises a documented error naming the argument, before any
model work.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("haystack")
pytest.importorskip("langchain_core")
pytest.importorskip("llama_index.core")

from conftest import V2_TINY
from haystack import Document as HaystackDocument
from haystack.utils import ComponentDevice
from haystack_integrations.components.rankers.jina_local import JinaLocalRanker
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.documents import Document as LangchainDocument
from langchain_jina_local import JinaLocalCrossEncoder, JinaLocalRerank
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.jina_local_rerank import JinaLocalRerank as LlamaIndexRerank
from strategies import PROPERTY_SETTINGS, assert_ranked, hostile_values, is_documented_error, texts

from jina_local_rerank import InvalidArgumentError, Reranker

document_lists = st.lists(texts, max_size=5)
counts = st.one_of(st.none(), st.integers(min_value=1, max_value=6), hostile_values)
thresholds = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0), hostile_values)


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


# ------------------------------------------------------------------ Haystack


def _haystack(**options) -> JinaLocalRanker:
    return JinaLocalRanker(model=str(V2_TINY), device=ComponentDevice.from_str("cpu"), dtype="float32", **options)


@PROPERTY_SETTINGS
@given(
    query=texts,
    contents=document_lists,
    init_top_k=counts,
    top_k=counts,
    init_threshold=thresholds,
    threshold=thresholds,
)
def test_haystack_ranks_or_refuses_up_front(core, query, contents, init_top_k, top_k, init_threshold, threshold):
    try:
        ranker = _haystack(top_k=init_top_k, score_threshold=init_threshold)
    except Exception as error:  # noqa: BLE001 - the property is about which errors may escape
        assert is_documented_error(error), repr(error)
        return
    documents = [HaystackDocument(content=c, id=f"d{i}") for i, c in enumerate(contents)]
    try:
        out = ranker.run(query=query, documents=documents, top_k=top_k, score_threshold=threshold)["documents"]
    except Exception as error:  # noqa: BLE001
        assert is_documented_error(error), repr(error)
        return
    assert [d.score for d in documents] == [None] * len(documents)  # the caller's documents untouched
    limit = top_k if top_k is not None else init_top_k
    cut = threshold if threshold is not None else init_threshold
    ranked = [int(d.id[1:]) for d in out]
    scores = [d.score for d in out]
    assert all(s >= cut for s in scores) if cut is not None else True
    if cut is None:
        assert_ranked(ranked, scores, len(documents), limit)
    assert all(out_doc.content == contents[i] for out_doc, i in zip(out, ranked))


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"top_k": None}, None),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 1.5}, "top_k"),
        ({"score_threshold": "0.5"}, "score_threshold"),
        ({"score_threshold": float("nan")}, "score_threshold"),
        ({"overlap": -1}, "overlap"),
        ({"max_length": 10, "max_query_length": 6}, "max_length"),
        ({"meta_fields_to_embed": "title"}, "meta_fields_to_embed"),
    ],
)
def test_haystack_checks_constructor_arguments(options, name):
    if name is None:
        assert _haystack(**options).top_k is None
        return
    with pytest.raises(InvalidArgumentError, match=name):
        _haystack(**options)


@pytest.mark.parametrize(
    ("options", "name"), [({"top_k": 1.5}, "top_k"), ({"score_threshold": "0.5"}, "score_threshold")]
)
def test_haystack_checks_run_arguments_before_scoring(options, name):
    from jina_local_rerank import clear_shared_rerankers, shared_reranker

    clear_shared_rerankers()  # a model nobody has loaded yet: the failed run must not load it either
    ranker = _haystack(local_files_only=True)
    with pytest.raises(InvalidArgumentError, match=name):
        ranker.run(query="skin", documents=[HaystackDocument(content="skin care")], **options)
    model = shared_reranker(str(V2_TINY), device="cpu", dtype="float32", local_files_only=True)
    assert not model.is_loaded


def test_haystack_keeps_every_document_with_top_k_none(core):
    documents = [HaystackDocument(content=t) for t in ["a", "b", "c"]]
    assert len(_haystack(top_k=None).run(query="q", documents=documents)["documents"]) == 3


# ------------------------------------------------------------------ LangChain

LANGCHAIN = {"model": str(V2_TINY), "device": "cpu", "dtype": "float32"}


@PROPERTY_SETTINGS
@given(query=texts, contents=document_lists, top_n=counts, overlap=st.one_of(st.just(80), hostile_values))
def test_langchain_compresses_or_refuses_up_front(core, query, contents, top_n, overlap):
    try:
        compressor = JinaLocalRerank(top_n=top_n, overlap=overlap, **LANGCHAIN)
    except Exception as error:  # noqa: BLE001
        assert is_documented_error(error), repr(error)
        return
    documents = [LangchainDocument(page_content=c, metadata={"n": i}) for i, c in enumerate(contents)]
    out = compressor.compress_documents(documents, query)
    assert all(d.metadata == {"n": i} for i, d in enumerate(documents))
    indices = [d.metadata["n"] for d in out]
    scores = [d.metadata["relevance_score"] for d in out]
    assert_ranked(indices, scores, len(documents), compressor.top_n)


@PROPERTY_SETTINGS
@given(pairs=st.lists(st.tuples(texts, texts), max_size=4), max_length=counts)
def test_langchain_cross_encoder_scores_or_refuses_up_front(core, pairs, max_length):
    try:
        encoder = JinaLocalCrossEncoder(max_length=max_length, **LANGCHAIN)
        scores = encoder.score(pairs)
    except Exception as error:  # noqa: BLE001
        assert is_documented_error(error), repr(error)
        return
    assert len(scores) == len(pairs)
    assert all(type(s) is float and math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)


# ------------------------------------------------------------------ LlamaIndex


@PROPERTY_SETTINGS
@given(query=texts, contents=document_lists, top_n=counts)
def test_llama_index_postprocesses_or_refuses_up_front(core, query, contents, top_n):
    try:
        postprocessor = LlamaIndexRerank(reranker=core, top_n=top_n)
    except Exception as error:  # noqa: BLE001
        assert is_documented_error(error), repr(error)
        return
    nodes = [NodeWithScore(node=TextNode(text=c, id_=f"n{i}"), score=0.5) for i, c in enumerate(contents)]
    out = postprocessor.postprocess_nodes(nodes, query_bundle=QueryBundle(query_str=query))
    assert all(n.score == 0.5 for n in nodes)
    assert_ranked([int(n.node.node_id[1:]) for n in out], [n.score for n in out], len(nodes), postprocessor.top_n)


@pytest.mark.parametrize(("option", "meant"), [("top_k", "top_n"), ("model_name", "model"), ("overlapp", "overlap")])
def test_llama_index_names_the_option_that_was_meant(core, option, meant):
    with pytest.raises(InvalidArgumentError, match=rf"unknown option '{option}'\. Did you mean '{meant}'\?"):
        LlamaIndexRerank(reranker=core, **{option: 5})


def test_llama_index_refuses_unknown_options_on_every_path(core):
    from pydantic import ValidationError

    with pytest.raises(InvalidArgumentError, match="top_n"):
        LlamaIndexRerank.from_dict({"top_k": 5, "model": str(V2_TINY), "device": "cpu", "dtype": "float32"})
    with pytest.raises(ValidationError, match="top_k"):
        LlamaIndexRerank.model_validate({"top_k": 5, "model": str(V2_TINY), "device": "cpu", "dtype": "float32"})
    kept = LlamaIndexRerank(reranker=core, top_n=2)
    assert LlamaIndexRerank.from_dict(kept.to_dict()).top_n == 2
