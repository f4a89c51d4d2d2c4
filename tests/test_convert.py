"""``convert``: jina-reranker-v2 as a standard transformers checkpoint that loads without our package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import V1_TINY, V2_TINY
from safetensors import safe_open

from jina_local_rerank import convert
from jina_local_rerank.backends.conversion import ConversionNotSupportedError
from jina_local_rerank.cli import main

# Runs in a fresh interpreter that never imports jina_local_rerank: only sentence-transformers and
# transformers, with remote code off, against Jina's reference scores for the fixture.
PLAIN_LOADER = r"""
import json, sys
import torch
from sentence_transformers import CrossEncoder
from transformers import AutoModelForSequenceClassification

folder, expected_path = sys.argv[1], sys.argv[2]
expected = json.load(open(expected_path, encoding="utf-8"))
worst_scores, worst_logits = 0.0, 0.0
for case in expected["cases"]:
    if case["kind"] == "compute_score":
        model = CrossEncoder(folder, trust_remote_code=False, local_files_only=True)
        if case["params"]["max_length"] is not None:
            model.max_seq_length = case["params"]["max_length"]
        want = case["expected"]["scores"]
        want = want if isinstance(want, list) else [want]
        got = model.predict(case["inputs"]["pairs"]).reshape(-1).tolist()
        worst_scores = max(worst_scores, max(abs(a - b) for a, b in zip(got, want)))
net = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
net.eval()
for case in expected["cases"]:
    if case["kind"] == "logits":
        for item, logit in zip(case["expected"]["input_ids"], case["expected"]["logits"]):
            with torch.no_grad():
                out = net(input_ids=torch.tensor([item])).logits.reshape(-1)[0].item()
            worst_logits = max(worst_logits, abs(out - logit))
print(json.dumps({
    "scores": worst_scores,
    "logits": worst_logits,
    "activation": type(model.activation_fn).__name__,
    "max_length": CrossEncoder(folder, local_files_only=True).max_seq_length,
    "ours_imported": any(name.startswith("jina_local_rerank") for name in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(V2_TINY, tmp_path_factory.mktemp("converted") / "jina-v2-tiny-hf")


@pytest.mark.slow
def test_plain_cross_encoder_reproduces_reference_scores(converted: Path) -> None:
    expected = json.loads((V2_TINY / "expected.json").read_text())
    assert any(c["kind"] == "logits" for c in expected["cases"])
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_LOADER, str(converted), str(V2_TINY / "expected.json")],
        capture_output=True,
        text=True,
        check=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
        cwd=converted,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ours_imported"] is False
    assert report["activation"] == "Sigmoid"
    assert report["max_length"] == 1024
    assert report["scores"] <= 1e-5
    assert report["logits"] <= 1e-4


def test_checkpoint_is_standard_and_documented(converted: Path) -> None:
    config = json.loads((converted / "config.json").read_text())
    assert config["architectures"] == ["XLMRobertaForSequenceClassification"]
    assert config["model_type"] == "xlm-roberta"
    assert "auto_map" not in config
    assert config["sentence_transformers"]["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    assert config["num_labels"] == 1 if "num_labels" in config else len(config["id2label"]) == 1
    assert config["layer_norm_eps"] == pytest.approx(1e-5)
    assert json.loads((converted / "tokenizer_config.json").read_text())["model_max_length"] == 1024
    assert (converted / "tokenizer.json").read_bytes() == (V2_TINY / "tokenizer.json").read_bytes()
    card = (converted / "README.md").read_text()
    assert str(V2_TINY) in card and "Converted from" in card
    assert "CC BY-NC 4.0" in card and "license: cc-by-nc-4.0" in card
    assert "revision `local folder, model.safetensors sha256" in card
    with safe_open(str(converted / "model.safetensors"), "pt") as handle:
        assert handle.get_tensor("roberta.encoder.layer.0.attention.self.query.weight").dtype.is_floating_point
        assert not any("Wqkv" in name for name in handle.keys())  # noqa: SIM118 - safe_open is not iterable


def test_dtype_is_applied(tmp_path: Path) -> None:
    import torch

    out = convert(V2_TINY, tmp_path / "bf16", dtype="bfloat16")
    with safe_open(str(out / "model.safetensors"), "pt") as handle:
        assert {handle.get_tensor(name).dtype for name in handle.keys()} == {torch.bfloat16}  # noqa: SIM118
    with pytest.raises(ValueError, match="dtype must be one of"):
        convert(V2_TINY, tmp_path / "int8", dtype="int8")


def test_refuses_a_non_empty_output_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert(V2_TINY, target)
    assert (target / "keep.txt").read_text() == "mine"
    convert(V2_TINY, target, overwrite=True)
    assert not (target / "keep.txt").exists()
    assert (target / "model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_jina_bert_points_to_the_onnx_export(tmp_path: Path) -> None:
    with pytest.raises(ConversionNotSupportedError, match="no class for it.*ONNX.*backend='onnx'"):
        convert(V1_TINY, tmp_path / "v1")
    assert not (tmp_path / "v1").exists()


def test_cli_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli"
    assert main(["convert", str(V2_TINY), str(target)]) == 0
    assert "hf upload" in capsys.readouterr().out
    assert main(["convert", str(V2_TINY), str(target)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["convert", str(V2_TINY), str(target), "--overwrite", "--dtype", "float16"]) == 0
    assert main(["convert", str(V1_TINY), str(tmp_path / "v1")]) == 2
    assert "ONNX" in capsys.readouterr().err
