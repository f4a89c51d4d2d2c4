"""Random checkpoints at the real shapes, written in the official layouts (nothing is downloaded)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

from jina_local_rerank.cli.bench.shapes import Shape, asset_folder
from jina_local_rerank.cli.bench.workloads import make_workload
from jina_local_rerank.models.checkpoint import Architecture


def write_checkpoint(shape: Shape, folder: Path, seed: int = 0) -> Path:
    """A random checkpoint of ``shape`` in the official layout, plus a native copy for the baseline."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((asset_folder(shape.assets) / "config.json").read_text())
    config.update(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
    )
    for item in asset_folder(shape.assets).iterdir():
        if item.name != "config.json":
            (folder / item.name).write_bytes(item.read_bytes())
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if shape.architecture is Architecture.JINA_V2:
        from jina_local_rerank.models.architectures import xlm_roberta_v2

        model = xlm_roberta_v2.MODEL_CLASS(xlm_roberta_v2.native_config(config))
        calibrate_head(model, model.classifier.out_proj, "v2")
        official = xlm_roberta_v2.to_official_state_dict(model.state_dict())
        model.save_pretrained(folder / "native")
        for item in asset_folder("v2").iterdir():
            if item.name.startswith(("tokenizer", "special")):
                (folder / "native" / item.name).write_bytes(item.read_bytes())
    else:
        from jina_local_rerank.models.architectures import jina_bert

        v1_model = jina_bert.JinaBertForSequenceClassification(jina_bert.native_config(config))
        calibrate_head(v1_model, v1_model.classifier, "v1")
        official = dict(v1_model.state_dict())
        official.pop("bert.alibi_slopes", None)
    save_file({k: v.contiguous() for k, v in official.items()}, str(folder / "model.safetensors"))
    return folder


def lively_init(model: torch.nn.Module) -> None:
    """BERT's std-0.02 init makes every input look alike after a few layers; use the reference
    fixtures' init instead (unit embeddings, fan-in scaled linears), so inputs stay distinguishable."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 1.6 / math.sqrt(module.in_features))
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1)
            elif isinstance(module, torch.nn.Embedding):
                module.weight.normal_(0.0, 1.0)
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_(0.0, 0.2)


def calibrate_head(model: torch.nn.Module, head: torch.nn.Linear, assets: str) -> None:
    """Random weights give near-constant logits, so every rank would be a tie; rescale the head so
    logits over workload-like pairs have mean 0 and std 2, like a trained reranker's."""
    from transformers import AutoTokenizer

    lively_init(model)
    tokenizer = AutoTokenizer.from_pretrained(str(asset_folder(assets)), trust_remote_code=False)
    query, documents = make_workload(tokenizer, 48, seed=99)
    batch = tokenizer([query] * len(documents), documents, padding=True, truncation=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.reshape(-1)
        scale = 2.0 / max(float(logits.std()), 1e-6)
        head.weight.mul_(scale)
        head.bias.copy_((head.bias - logits.mean()) * scale)


def write_listwise_checkpoint(shape: Shape, folder: Path, seed: int = 0) -> Path:
    """A random jina-reranker-v3 checkpoint of ``shape`` in the official layout (``model.*`` + projector)."""
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for item in asset_folder("v3").iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    config = json.loads((asset_folder("v3") / "config.json").read_text())
    config.update(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        max_window_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads or shape.heads,
        head_dim=shape.head_dim or shape.hidden // shape.heads,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
    )
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    backbone_config = Qwen3Config.from_dict({k: v for k, v in config.items() if k not in ("auto_map", "architectures")})
    backbone = Qwen3Model(backbone_config)
    projector = torch.nn.Sequential(
        torch.nn.Linear(shape.hidden, shape.hidden // 2, bias=False),
        torch.nn.ReLU(),
        torch.nn.Linear(shape.hidden // 2, 512, bias=False),
    )
    lively_init(backbone)
    lively_init(projector)
    state = {f"model.{k}": v for k, v in backbone.state_dict().items()}
    state.update({f"projector.{k}": v for k, v in projector.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    return folder
