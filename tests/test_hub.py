"""Real weights from the hub: run only where huggingface.co is reachable (skipped offline)."""

from __future__ import annotations

import pytest

from jina_local_rerank import Reranker
from jina_local_rerank.text.examples import MODEL_CARD_DOCUMENTS, MODEL_CARD_QUERY, MODEL_CARD_SCORES


@pytest.mark.hub
def test_v2_reproduces_the_model_card_scores():
    reranker = Reranker("jinaai/jina-reranker-v2-base-multilingual", dtype="bfloat16")
    scores = reranker.compute_score([[MODEL_CARD_QUERY, d] for d in MODEL_CARD_DOCUMENTS], max_length=1024)
    assert scores == pytest.approx(MODEL_CARD_SCORES, abs=5e-3)
    top = reranker.rerank(MODEL_CARD_QUERY, MODEL_CARD_DOCUMENTS, top_n=3)
    assert [r.index for r in top] == [6, 8, 0]
