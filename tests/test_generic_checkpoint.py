"""Any other cross-encoder checkpoint goes through sentence-transformers' ordinary CrossEncoder path."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import CrossEncoder
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from jina_local_rerank import Reranker
from jina_local_rerank.models.checkpoint import Architecture

WORDS = [
    "organic",
    "skincare",
    "products",
    "for",
    "sensitive",
    "skin",
    "gentle",
    "creams",
    "calm",
    "the",
    "train",
    "leaves",
    "at",
    "platform",
    "seven",
]


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A tiny random BERT cross-encoder saved the way ms-marco / bge checkpoints are."""
    folder = tmp_path_factory.mktemp("tiny-bert-cross-encoder")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), model_max_length=64)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    return folder


def test_generic_checkpoint_matches_plain_cross_encoder(bert_folder):
    reranker = Reranker(bert_folder, device="cpu", dtype="float32")
    assert reranker.architecture is Architecture.GENERIC
    query = "organic skincare for sensitive skin"
    documents = ["gentle creams calm sensitive skin", "the train leaves at platform seven", "organic products"]
    plain = CrossEncoder(str(bert_folder), device="cpu", local_files_only=True)
    expected = torch.sigmoid(
        plain.predict([[query, d] for d in documents], activation_fn=torch.nn.Identity(), convert_to_tensor=True)
    ).tolist()
    assert reranker.compute_score([[query, d] for d in documents]) == pytest.approx(expected, abs=1e-6)
    # BERT's template ([CLS] q [SEP] d [SEP], token types 0/1) is derived from the tokenizer itself.
    results = reranker.rerank(query, documents)
    assert [r.relevance_score for r in results] == pytest.approx(sorted(expected, reverse=True), abs=1e-6)
    assert reranker.max_length == 64
