"""Native jina-reranker-v3 against the numbers Jina's reference algorithm computed on the tiny checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import FIXTURES, load_expected
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jina_local_rerank import Reranker
from jina_local_rerank.models.architectures.qwen3_listwise import PackedBlocks
from jina_local_rerank.text import listwise_prompt as listwise

V3_TINY = FIXTURES / "jina-v3-tiny"
EXPECTED = load_expected(V3_TINY)
TOLERANCE = EXPECTED["tolerance"]
SCORES_ATOL = TOLERANCE["scores_atol"]
EMBEDS_ATOL = TOLERANCE["embeds_atol"]
HIDDEN_ATOL = TOLERANCE["hidden_atol"]


def _cases(kind: str, keep=lambda case: True):
    return [pytest.param(c, id=c["id"]) for c in EXPECTED["cases"] if c["kind"] == kind and keep(c)]


FORWARD = _cases("forward")
RERANK = _cases("rerank", lambda c: "results" in c["expected"])
REFERENCE_ERRORS = _cases("rerank", lambda c: "error" in c["expected"] and c["inputs"]["documents"])


@pytest.fixture(scope="module")
def v3() -> Reranker:
    return Reranker(V3_TINY, device="cpu", dtype="float32")


def _rerank_kwargs(case) -> dict:
    return {key: value for key, value in case["params"].items() if key in ("max_doc_length", "max_query_length")}


def assert_close(actual, expected, atol: float) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected), atol=atol, rtol=0)


def assert_order_matches(indices: list[int], expected_results: list[dict], scores_by_index: list[float]) -> None:
    """Result order must match, except that neighbours closer than 2 * atol in the reference may swap."""
    expected = [r["index"] for r in expected_results]
    assert sorted(indices) == sorted(expected)
    for position, (got, want) in enumerate(zip(indices, expected)):
        if got != want:
            assert abs(scores_by_index[got] - scores_by_index[want]) < 2 * SCORES_ATOL, (position, got, want)


def test_v3_loads_natively_on_qwen3_model(v3):
    from transformers import Qwen3Model

    from jina_local_rerank.models.checkpoint import Architecture

    assert v3.architecture is Architecture.JINA_V3
    assert v3.is_listwise
    scorer = v3.listwise_scorer
    assert type(scorer.model.backbone) is Qwen3Model
    assert scorer.model.embedding_size == EXPECTED["model"]["projector_dim"] == 512
    assert scorer.model_max_length == EXPECTED["tokenizer"]["model_max_length"]
    assert v3.max_length == scorer.model_max_length
    special = EXPECTED["tokenizer"]["special_ids"]
    assert scorer.document_token_id == special[listwise.DOCUMENT_MARKER]
    assert scorer.query_token_id == special[listwise.QUERY_MARKER]
    with pytest.raises(ValueError, match="listwise"):
        _ = v3.cross_encoder


def test_tokenizer_matches_the_reference(v3):
    case = next(c for c in EXPECTED["cases"] if c["kind"] == "tokenize")
    tokenizer = v3.listwise_scorer.tokenizer
    ids = [tokenizer(text)["input_ids"] for text in case["inputs"]["texts"]]
    assert ids == case["expected"]["input_ids"]
    assert [tokenizer.decode(i) for i in ids] == case["expected"]["decoded"]


@pytest.mark.parametrize("case", FORWARD)
def test_forward_prompt_hidden_states_and_embeddings(v3, case):
    inputs, expected = case["inputs"], case["expected"]
    scorer = v3.listwise_scorer
    query = listwise.sanitize(inputs["query"], "query")
    documents = [listwise.sanitize(d, f"documents[{i}]") for i, d in enumerate(inputs["documents"])]
    prompt = listwise.build_prompt(query, documents, instruction=inputs["instruction"])
    assert prompt == expected["prompt"]
    ids = scorer.tokenizer(prompt)["input_ids"]
    assert ids == expected["input_ids"]
    ids_array = np.asarray(ids)
    doc_positions = np.flatnonzero(ids_array == scorer.document_token_id).tolist()
    query_positions = np.flatnonzero(ids_array == scorer.query_token_id).tolist()
    assert doc_positions == expected["doc_token_positions"]
    assert query_positions == expected["query_token_positions"]

    with torch.inference_mode():
        hidden = scorer.model.hidden_states(PackedBlocks.from_prompts([ids]))
        embeddings = scorer.model.project(hidden[[*doc_positions, *query_positions]]).float()
    assert_close(hidden[doc_positions], expected["hidden_at_doc_tokens"], HIDDEN_ATOL)
    assert hidden[query_positions[0]].tolist() == pytest.approx(expected["hidden_at_query_token"], abs=HIDDEN_ATOL)
    documents_embedded, query_embedded = embeddings[:-1], embeddings[-1]
    if "doc_embeds" in expected:
        assert_close(documents_embedded, expected["doc_embeds"], EMBEDS_ATOL)
        assert query_embedded.tolist() == pytest.approx(expected["query_embed"], abs=EMBEDS_ATOL)
    else:
        norms = documents_embedded.norm(dim=-1).tolist()
        assert norms == pytest.approx(expected["doc_embed_norms"], rel=1e-5)
        assert query_embedded.norm().item() == pytest.approx(expected["query_embed_norm"], rel=1e-5)
    cosines = torch.nn.functional.cosine_similarity(documents_embedded, query_embedded[None], dim=-1)
    assert cosines.tolist() == pytest.approx(expected["scores"], abs=SCORES_ATOL)


@pytest.mark.parametrize("case", RERANK)
def test_rerank_scores_order_blocks_and_merge(v3, case):
    inputs, params, expected = case["inputs"], case["params"], case["expected"]
    kwargs = _rerank_kwargs(case)
    detail = v3.listwise_scorer.score_many([(inputs["query"], inputs["documents"])], **kwargs)[0]

    # Truncation: counted lengths on the raw texts.
    truncation = expected["truncation"]
    assert detail.query_length == truncation["query_length"]
    assert detail.document_lengths == truncation["doc_lengths"]

    # Blocks: the same documents, prompt ids, cosines, weights and query embeddings.
    assert [b.document_indices for b in detail.blocks] == [b["doc_indices"] for b in expected["blocks"]]
    assert [b.input_ids for b in detail.blocks] == [b["input_ids"] for b in expected["blocks"]]
    for block, reference in zip(detail.blocks, expected["blocks"]):
        assert block.scores.tolist() == pytest.approx(reference["scores"], abs=SCORES_ATOL)
        assert float(block.weight) == pytest.approx(reference["weight"], abs=SCORES_ATOL)
        assert block.query_embedding.tolist() == pytest.approx(reference["query_embed"], abs=EMBEDS_ATOL)
    assert detail.query_embedding.tolist() == pytest.approx(expected["merged_query_embed"], abs=EMBEDS_ATOL)
    assert detail.scores == pytest.approx(expected["scores_by_index"], abs=SCORES_ATOL)

    # Through the public API: results best first, original documents, Python types.
    top_n = params.get("top_n")
    results = v3.rerank(inputs["query"], inputs["documents"], top_n=top_n or None, **kwargs)
    reference = expected["results"] if top_n != 0 else []
    if top_n == 0:  # Jina returns []; ours spells "none" by not asking (top_n must be positive).
        with pytest.raises(ValueError, match="top_n"):
            v3.rerank(inputs["query"], inputs["documents"], top_n=0, **kwargs)
        results = []
    assert len(results) == len(reference)
    assert_order_matches([r.index for r in results], reference, expected["scores_by_index"])
    assert [r.relevance_score for r in results] == pytest.approx(
        [expected["scores_by_index"][r.index] for r in results], abs=SCORES_ATOL
    )
    assert [r.document for r in results] == [inputs["documents"][r.index] for r in results]
    assert all(type(r.relevance_score) is float and type(r.index) is int for r in results)
    assert all(-1.0 <= r.relevance_score <= 1.0 for r in results)
    for result, ref in zip(results, reference):
        if "embedding" in ref and result.index == ref["index"]:
            assert detail.document_embeddings[result.index].tolist() == pytest.approx(ref["embedding"], abs=EMBEDS_ATOL)


@pytest.mark.parametrize("case", [c for c in RERANK if c.values[0]["expected"]["truncation"]["truncated_documents"]])
def test_truncated_documents_are_re_decoded(v3, case):
    inputs, expected = case["inputs"], case["expected"]
    limit = case["params"].get("max_doc_length", listwise.DEFAULT_MAX_DOC_LENGTH)
    truncated = v3.listwise_scorer.truncate(inputs["documents"], limit)
    for index, text in expected["truncation"]["truncated_documents"].items():
        assert truncated[int(index)].text == text
        assert truncated[int(index)].truncated


def test_no_documents_gives_an_empty_list(v3):
    # Jina's code raises ZeroDivisionError from np.average here.
    case = next(c for c in EXPECTED["cases"] if c["id"] == "rerank/no_documents")
    assert case["expected"]["error"] == "ZeroDivisionError"
    assert v3.rerank(case["inputs"]["query"], []) == []
    assert v3.score_documents(case["inputs"]["query"], []).scores == []


@pytest.mark.parametrize("case", REFERENCE_ERRORS)
def test_nested_markers_raise_a_value_error_naming_the_document(v3, case):
    # Jina's code crashes (RuntimeError) or misaligns results (IndexError); we refuse before any forward.
    inputs = case["inputs"]
    with pytest.raises(ValueError, match=r"documents\[0\].*marker"):
        v3.rerank(inputs["query"], inputs["documents"])


def test_nested_marker_in_the_query_names_the_query(v3):
    with pytest.raises(ValueError, match="query"):
        v3.rerank("skin <|rerank_<|rerank_token|>token|>", ["aloe"])


def test_identical_documents_score_differently_by_position(v3):
    case = next(c for c in EXPECTED["cases"] if c["id"] == "rerank/duplicates")
    scores = v3.score_documents(case["inputs"]["query"], case["inputs"]["documents"]).scores
    assert len(set(scores)) == len(scores)
    assert all(math.isfinite(s) for s in scores)


@pytest.mark.slow
def test_one_forward_for_many_blocks_matches_one_block_per_forward(v3):
    case = next(c for c in EXPECTED["cases"] if c["id"] == "rerank/capacity_blocks")
    scorer = v3.listwise_scorer
    request = (case["inputs"]["query"], case["inputs"]["documents"])
    budget = scorer.token_budget
    try:
        scorer.token_budget = 10**9  # every block of both requests in one packed forward
        packed = scorer.score_many([request, request])
    finally:
        scorer.token_budget = budget
    single = scorer.score_many([request], max_blocks_per_forward=1)[0]
    for result in packed:
        assert result.scores == pytest.approx(single.scores, abs=5e-6)
        assert result.scores == pytest.approx(case["expected"]["scores_by_index"], abs=SCORES_ATOL)


def test_instruction_fills_the_prompt_slot(v3):
    case = next(c for c in EXPECTED["cases"] if c["id"] == "forward/with_instruction")
    inputs = case["inputs"]
    request = (inputs["query"], inputs["documents"])
    (detail,) = v3.listwise_scorer.score_many([request], instruction=inputs["instruction"])
    assert detail.blocks[0].scores.tolist() == pytest.approx(case["expected"]["scores"], abs=SCORES_ATOL)
    plain = v3.rerank(inputs["query"], inputs["documents"])
    instructed = v3.rerank(inputs["query"], inputs["documents"], instruction=inputs["instruction"])
    assert [r.relevance_score for r in plain] != [r.relevance_score for r in instructed]


def test_compute_score_scores_each_pair_as_a_one_document_list(v3):
    case = next(c for c in EXPECTED["cases"] if c["id"] == "rerank/single_document")
    query, (document,) = case["inputs"]["query"], case["inputs"]["documents"]
    expected = case["expected"]["scores_by_index"][0]
    assert v3.compute_score([query, document]) == pytest.approx(expected, abs=SCORES_ATOL)
    scores = v3.compute_score([[query, document], [query, "bamboo spoons"], [query, document]])
    assert scores[0] == pytest.approx(expected, abs=SCORES_ATOL)
    assert scores[2] == pytest.approx(expected, abs=SCORES_ATOL)
    assert all(type(s) is float for s in scores)


def test_score_documents_windows_count_every_prompt_token_once(v3):
    case = next(c for c in EXPECTED["cases"] if c["id"] == "rerank/capacity_blocks")
    details = v3.score_documents(case["inputs"]["query"], case["inputs"]["documents"])
    assert details.total_tokens == sum(b["num_tokens"] for b in case["expected"]["blocks"])
    assert sorted(w.document_index for w in details.windows) == list(range(len(case["inputs"]["documents"])))
    assert [details.scores[w.document_index] for w in details.windows] == [w.score for w in details.windows]


def test_v3_parameters_that_do_not_apply_are_refused(v3):
    with pytest.raises(ValueError, match="overlap"):
        v3.rerank("q", ["a"], overlap=80)
    with pytest.raises(ValueError, match="disagree"):
        v3.rerank("q", ["a"], max_length=64, max_doc_length=32)
    with pytest.raises(ValueError, match="max_doc_length"):
        v3.rerank("q", ["a"], max_doc_length=0)
    with pytest.raises(TypeError, match="instruction"):
        v3.rerank("q", ["a"], instruction=3)  # type: ignore[arg-type]
    # max_length is the per-document limit for v3: the same as max_doc_length.
    documents = ["word " * 40, "aloe vera"]
    assert v3.score_documents("q", documents, max_length=8).scores == pytest.approx(
        v3.score_documents("q", documents, max_doc_length=8).scores, abs=1e-7
    )


def test_v3_only_parameters_are_refused_by_cross_encoders(v2_reranker):
    with pytest.raises(ValueError, match="max_doc_length"):
        v2_reranker.rerank("q", ["a"], max_doc_length=100)
    with pytest.raises(ValueError, match="instruction"):
        v2_reranker.rerank("q", ["a"], instruction="be brief")


def test_lazy_v3_answers_no_documents_without_loading():
    lazy = Reranker(V3_TINY, device="cpu", dtype="float32", lazy=True)
    assert lazy.rerank("q", []) == []
    assert lazy.compute_score([]) == []
    assert not lazy.is_loaded


_PIECES = st.sampled_from(
    [
        listwise.DOCUMENT_MARKER,
        listwise.QUERY_MARKER,
        "<|im_start|>",
        "<|im_end|>",
        "<think>",
        "<|rerank_",
        "<|embed_",
        "token|>",
        "𠀀",
        "Ѣ",
        "é",
        " ",
        "\n",
        "vitamin C",
    ]
)
_TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=8).map("".join)


@pytest.mark.slow
@given(query=_TEXTS, documents=st.lists(_TEXTS, max_size=4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_gets_a_cosine_per_document_or_a_named_error(v3, query, documents):
    try:
        results = v3.rerank(query, documents, max_doc_length=12, max_query_length=6)
    except ValueError as error:
        assert "query" in str(error) or "documents[" in str(error)
        survivors = [
            text.replace(listwise.QUERY_MARKER, "").replace(listwise.DOCUMENT_MARKER, "")
            for text in [query, *documents]
        ]
        assert any(marker in text for text in survivors for marker in (listwise.QUERY_MARKER, listwise.DOCUMENT_MARKER))
        return
    assert sorted(r.index for r in results) == list(range(len(documents)))
    assert all(math.isfinite(r.relevance_score) and -1.0 <= r.relevance_score <= 1.0 for r in results)
    assert [r.document for r in results] == [documents[r.index] for r in results]
