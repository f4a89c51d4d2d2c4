"""Native v2 and v1 against the numbers Jina's own reference code computed on the tiny checkpoints."""

from __future__ import annotations

import pytest
import torch
from conftest import V1_TINY, V2_TINY, load_expected

from jina_local_rerank import Reranker

FIXTURES = {"v2": V2_TINY, "v1": V1_TINY}


@pytest.fixture(scope="module")
def rerankers():
    return {name: Reranker(folder, device="cpu", dtype="float32") for name, folder in FIXTURES.items()}


def _params(kind: str, keep=lambda case: True):
    return [
        pytest.param(name, case, id=f"{name}:{case['id']}")
        for name, folder in FIXTURES.items()
        for case in load_expected(folder)["cases"]
        if case["kind"] == kind and keep(case)
    ]


def _tolerance(name: str, key: str) -> float:
    return load_expected(FIXTURES[name])["tolerance"][key]


TOKENIZE = _params("tokenize")
LOGITS = _params("logits")
COMPUTE = _params("compute_score")
RERANK = _params("rerank", lambda case: "results" in case["expected"])
EMPTY = _params("rerank", lambda case: case["expected"].get("error") == "IndexError")


def test_v1_loads_as_native_jina_bert(rerankers):
    from jina_local_rerank.models.architectures.jina_bert import JinaBertForSequenceClassification
    from jina_local_rerank.models.checkpoint import Architecture

    v1 = rerankers["v1"]
    assert v1.architecture is Architecture.JINA_BERT
    assert type(v1.cross_encoder.model) is JinaBertForSequenceClassification
    assert v1.cross_encoder.model.config.num_labels == 1
    slopes = v1.cross_encoder.model.bert.alibi_slopes.tolist()
    assert slopes == pytest.approx(load_expected(V1_TINY)["model"]["alibi_slopes"])


def test_v2_loads_as_native_xlm_roberta_without_remote_code(v2_reranker):
    from transformers import XLMRobertaForSequenceClassification

    from jina_local_rerank.models.architectures import xlm_roberta_v2
    from jina_local_rerank.models.checkpoint import Architecture

    assert v2_reranker.architecture is Architecture.JINA_V2
    assert type(v2_reranker.cross_encoder.model) is XLMRobertaForSequenceClassification
    # transformers runs the layers; attention is ours only so that packed batches need no padding.
    assert v2_reranker.attn_implementation == xlm_roberta_v2.ATTENTION_IMPLEMENTATION
    assert not v2_reranker.packed  # on the CPU padding costs no more than packing
    assert v2_reranker.max_length == 1024


@pytest.mark.parametrize(("name", "case"), TOKENIZE)
def test_token_ids(rerankers, name, case):
    tokenizer = rerankers[name].cross_encoder.tokenizer
    singles = case["inputs"]["singles"]
    assert [tokenizer(t)["input_ids"] for t in singles] == case["expected"]["single_input_ids"]
    assert [tokenizer(t, add_special_tokens=False)["input_ids"] for t in singles] == case["expected"][
        "single_ids_no_special"
    ]
    pairs = case["inputs"]["pairs"]
    assert [tokenizer(q, d)["input_ids"] for q, d in pairs] == case["expected"]["pair_input_ids"]


@pytest.mark.parametrize(("name", "case"), LOGITS)
def test_logits(rerankers, name, case):
    from jina_local_rerank.text.tokenization import PairTokenizer

    reranker = rerankers[name]
    tokenizer = PairTokenizer(reranker.cross_encoder.tokenizer)
    pairs = case["inputs"]["pairs"]
    max_length = case["params"]["max_length"] or reranker.max_length
    encoded = tokenizer.encode_pairs([q for q, _ in pairs], [d for _, d in pairs], max_length)
    assert [e.input_ids for e in encoded] == case["expected"]["input_ids"]
    features = reranker.pipeline.scorer.features(encoded)
    with torch.inference_mode():
        logits = reranker.cross_encoder(features)["scores"].reshape(-1).tolist()
    tolerance = _tolerance(name, "logits_atol")
    assert logits == pytest.approx(case["expected"]["logits"], abs=tolerance)


@pytest.mark.parametrize(("name", "case"), COMPUTE)
def test_compute_score(rerankers, name, case):
    params = case["params"]
    scores = rerankers[name].compute_score(
        case["inputs"]["pairs"], max_length=params["max_length"], batch_size=params["batch_size"]
    )
    expected = case["expected"]["scores"]
    tolerance = _tolerance(name, "scores_atol")
    if isinstance(expected, float):
        assert isinstance(scores, float)
        assert scores == pytest.approx(expected, abs=tolerance)
    else:
        assert all(type(s) is float for s in scores)
        assert scores == pytest.approx(expected, abs=tolerance)


@pytest.mark.parametrize(("name", "case"), RERANK)
def test_rerank_windows_scores_and_order(rerankers, name, case):
    reranker = rerankers[name]
    params, inputs, expected = case["params"], case["inputs"], case["expected"]
    tolerance = _tolerance(name, "scores_atol")
    kwargs = {
        "max_query_length": params["max_query_length"],
        "max_length": params["max_length"],
        "overlap": params["overlap_tokens"],
    }
    details = reranker.score_documents(inputs["query"], inputs["documents"], **kwargs)
    # Every window: the same token ids, in document order and left to right, with the same score.
    assert [(w.document_index, w.input_ids) for w in details.windows] == [
        (c["doc_index"], c["input_ids"]) for c in expected["chunks"]
    ]
    assert [w.score for w in details.windows] == pytest.approx([c["score"] for c in expected["chunks"]], abs=tolerance)
    assert details.scores == pytest.approx(expected["merged_scores_by_document"], abs=tolerance)

    # top_n=0 means "all" in Jina's code; ours spells that None.
    results = reranker.rerank(inputs["query"], inputs["documents"], top_n=params["top_n"] or None, **kwargs)
    assert [r.index for r in results] == [r["index"] for r in expected["results"]]
    assert [r.document for r in results] == [r["document"] for r in expected["results"]]
    assert [r.relevance_score for r in results] == pytest.approx(
        [r["relevance_score"] for r in expected["results"]], abs=tolerance
    )
    assert all(type(r.relevance_score) is float and type(r.index) is int for r in results)


def test_long_document_is_split_into_overlapping_windows(v2_reranker):
    case = next(c for c in load_expected(V2_TINY)["cases"] if c["id"] == "rerank/defaults")
    details = v2_reranker.score_documents(case["inputs"]["query"], case["inputs"]["documents"])
    per_document = [sum(1 for w in details.windows if w.document_index == i) for i in range(len(details.scores))]
    assert max(per_document) > 1
    assert all(len(w.input_ids) <= 1024 for w in details.windows)


@pytest.mark.parametrize(("name", "case"), EMPTY)
def test_empty_document_is_scored_as_an_empty_window(rerankers, name, case):
    # Jina's code raises IndexError here; we score the bare query window instead.
    reranker = rerankers[name]
    params, inputs = case["params"], case["inputs"]
    results = reranker.rerank(
        inputs["query"],
        inputs["documents"],
        max_query_length=params["max_query_length"],
        max_length=params["max_length"],
        overlap=params["overlap_tokens"],
    )
    assert sorted(r.index for r in results) == [0, 1, 2]
    empty = next(r for r in results if r.index == 2)
    tokenizer = reranker.cross_encoder.tokenizer
    query_ids = tokenizer(inputs["query"], truncation=True, max_length=params["max_query_length"])["input_ids"]
    window = reranker.score_documents(inputs["query"], [""], max_query_length=16, max_length=32).windows[0]
    assert window.input_ids == query_ids + [tokenizer.sep_token_id, tokenizer.sep_token_id]
    assert empty.relevance_score == pytest.approx(window.score, abs=1e-6)
    assert 0.0 < empty.relevance_score < 1.0
