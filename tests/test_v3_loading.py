"""Loading jina-reranker-v3 natively: no remote code ever, and no scoring with weights loading invented."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import transformers
from conftest import FIXTURES
from safetensors.torch import load_file, save_file

from jina_local_rerank import CheckpointMismatchError, Reranker
from jina_local_rerank.models.architectures.weights import weights_initialised_by_loading
from jina_local_rerank.models.checkpoint import Architecture, detect_architecture, read_config

V3_TINY = FIXTURES / "jina-v3-tiny"


@pytest.fixture
def v3_copy(tmp_path):
    folder = tmp_path / "jina-reranker-v3"
    shutil.copytree(V3_TINY, folder, ignore=shutil.ignore_patterns("expected.json", "README.md"))
    return folder


def _rewrite(folder, drop=(), config_updates=None):
    state = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if k not in drop}, folder / "model.safetensors")
    if config_updates:
        config = json.loads((folder / "config.json").read_text())
        config.update(config_updates)
        (folder / "config.json").write_text(json.dumps(config))


def test_v3_config_is_detected_by_its_architecture():
    assert detect_architecture(read_config(V3_TINY)) is Architecture.JINA_V3
    plain_qwen3 = {**read_config(V3_TINY), "architectures": ["Qwen3ForCausalLM"]}
    assert detect_architecture(plain_qwen3) is Architecture.GENERIC


def test_loading_never_runs_remote_code(v3_copy, monkeypatch):
    # The hub repo ships modeling.py (auto_map points at it); a copy that explodes on import proves
    # nothing executes it, and spies on transformers' loaders record every trust_remote_code passed.
    (v3_copy / "modeling.py").write_text("raise RuntimeError('remote code was executed')\n")
    seen: list[object] = []

    def spy(owner, name):
        original = getattr(owner, name).__func__

        def wrapper(cls, *args, **kwargs):
            seen.append(kwargs.get("trust_remote_code", "not passed"))
            return original(cls, *args, **kwargs)

        monkeypatch.setattr(owner, name, classmethod(wrapper))

    spy(transformers.AutoTokenizer, "from_pretrained")
    spy(transformers.AutoConfig, "from_pretrained")
    spy(transformers.AutoModel, "from_pretrained")
    spy(transformers.PreTrainedModel, "from_pretrained")
    reranker = Reranker(v3_copy, device="cpu", dtype="float32", trust_remote_code=True)
    assert reranker.architecture is Architecture.JINA_V3
    assert seen and all(value is False for value in seen)
    assert not any(name.startswith("transformers_modules") for name in __import__("sys").modules)
    assert reranker.rerank("Which foods are rich in vitamin C?", ["Oranges and kiwis", "train times"])


def test_missing_projector_is_refused_with_the_missing_names(v3_copy):
    _rewrite(v3_copy, drop=("projector.2.weight",))
    with pytest.raises(CheckpointMismatchError, match=r"projector\.2\.weight") as error:
        Reranker(v3_copy, device="cpu", dtype="float32")
    assert "plain Qwen3" in str(error.value)


def test_missing_backbone_tensor_is_refused(v3_copy):
    _rewrite(v3_copy, drop=("model.norm.weight",))
    with pytest.raises(CheckpointMismatchError, match=r"norm\.weight"):
        Reranker(v3_copy, device="cpu", dtype="float32")


def test_qwen3_classifier_without_its_head_is_not_scored_with_a_random_head(v3_copy):
    # A config that declares a sequence classifier over weights without its `score` head: the generic
    # path would build Qwen3ForSequenceClassification with a random head. It must refuse instead.
    _rewrite(
        v3_copy,
        drop=("projector.0.weight", "projector.2.weight"),
        config_updates={
            "architectures": ["Qwen3ForSequenceClassification"],
            "auto_map": {},
            "pad_token_id": 151643,
            "num_labels": 1,
        },
    )
    with pytest.raises(CheckpointMismatchError, match=r"score\.weight") as error:
        Reranker(v3_copy, device="cpu", dtype="float32")
    assert "Qwen3ForSequenceClassification" in str(error.value)


def test_generic_checkpoint_without_a_head_is_refused(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = ["organic", "skin", "train"]
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    BertModel(config).save_pretrained(tmp_path)  # an encoder only: no classifier
    with pytest.raises(CheckpointMismatchError, match=r"classifier\.weight"):
        Reranker(tmp_path, device="cpu", dtype="float32")


def test_complete_generic_checkpoint_reports_nothing_initialised(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=1
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    model, info = BertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert weights_initialised_by_loading(model) == []
    partial = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3, ignore_mismatched_sizes=True)
    assert set(weights_initialised_by_loading(partial)) == {"classifier.weight", "classifier.bias"}
