"""Turn jina-reranker-v2 into a standard transformers ``XLMRobertaForSequenceClassification`` checkpoint.

The official v2 checkpoint only loads through Jina's remote code. Its math is plain XLM-RoBERTa
(``architectures/xlm_roberta_v2.py``), so the renamed weights, a native config and the unchanged
tokenizer files make a folder that ``sentence_transformers.CrossEncoder`` and
``AutoModelForSequenceClassification`` load with ``trust_remote_code=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import XLMRobertaForSequenceClassification

from jina_local_rerank import compat
from jina_local_rerank.errors import JinaLocalRerankError
from jina_local_rerank.models.architectures import xlm_roberta_v2
from jina_local_rerank.models.architectures.weights import load_into, load_state_dict
from jina_local_rerank.models.checkpoint import Architecture, detect_architecture, read_config, resolve_checkpoint

CONVERT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# What sentence-transformers' CrossEncoder reads from config.json to pick its activation; it would
# pick Sigmoid for num_labels=1 anyway, but an explicit key survives a later change of that default.
SIGMOID_ACTIVATION = "torch.nn.modules.activation.Sigmoid"

# Licences of the published models, for the model card when the source folder has no card.
KNOWN_LICENSES = {
    "jina-reranker-v2-base-multilingual": "cc-by-nc-4.0",
    "jina-reranker-v1-turbo-en": "apache-2.0",
    "jina-reranker-v1-tiny-en": "apache-2.0",
}
_LICENSE_NAMES = {"cc-by-nc-4.0": "CC BY-NC 4.0", "apache-2.0": "Apache 2.0"}
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
)


class ConversionNotSupportedError(JinaLocalRerankError, ValueError):
    """The checkpoint has no standard transformers class to convert into."""


def convert(
    model: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    dtype: str = "float32",
    overwrite: bool = False,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
) -> Path:
    """Write ``model`` (jina-reranker-v2) to ``output_dir`` as a standard transformers checkpoint.

    The folder holds ``model.safetensors``, a ``config.json`` with ``architectures`` and no
    ``auto_map``, the source's tokenizer files and a model card naming the source, its revision and
    its licence. Returns the output folder.
    """
    if dtype not in CONVERT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(CONVERT_DTYPES)}, not {dtype!r}.")
    output = Path(output_dir).expanduser()
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder.")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise FileExistsError(f"{output} is not empty; pass overwrite=True (--overwrite) to replace its contents.")
    folder = resolve_checkpoint(
        model, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
    )
    raw = read_config(folder)
    architecture = detect_architecture(raw)
    if architecture is Architecture.JINA_BERT:
        raise ConversionNotSupportedError(
            f"{model} is JinaBERT (jina-reranker-v1): transformers has no class for it (ALiBi attention, "
            "GEGLU feed-forward), so it cannot become a standard transformers checkpoint. Export it to ONNX "
            f"instead: Reranker({str(model)!r}, backend='onnx') exports and caches it (see docs/export.md)."
        )
    if architecture is Architecture.GENERIC:
        raise ConversionNotSupportedError(
            f"{model} already loads with transformers' own classes; there is nothing to convert."
        )

    network = native_v2_model(folder)
    torch.nn.Module.to(network, dtype=CONVERT_DTYPES[dtype])
    network.config.sentence_transformers = {"activation_fn": SIGMOID_ACTIVATION}
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        network.save_pretrained(staging, safe_serialization=True)
        copy_tokenizer_files(folder, staging)
        source = describe_source(str(model), folder, revision)
        (staging / "README.md").write_text(model_card(source, dtype), encoding="utf-8")
        _replace_folder(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


def native_v2_model(folder: Path) -> XLMRobertaForSequenceClassification:
    """transformers' own class with v2's renamed weights, in fp32, plain SDPA attention."""
    config = xlm_roberta_v2.native_config(read_config(folder))
    network = compat.build_without_init(
        XLMRobertaForSequenceClassification, config, dtype=torch.float32, attn_implementation="sdpa"
    )
    state = {name: tensor.float() for name, tensor in load_state_dict(folder).items()}
    load_into(network, xlm_roberta_v2.to_native_state_dict(state, config.hidden_size), str(folder))
    return network.eval()


def copy_tokenizer_files(source: Path, target: Path) -> None:
    """The source's tokenizer files, unchanged except for a remote-code ``auto_map`` (never needed)."""
    for name in _TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    settings = target / "tokenizer_config.json"
    if settings.is_file():
        data = json.loads(settings.read_text(encoding="utf-8"))
        if data.pop("auto_map", None) is not None:
            settings.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def describe_source(model: str, folder: Path, revision: str | None) -> dict[str, str]:
    """Name, revision and licence of the source checkpoint, as far as they can be known offline."""
    # A hub snapshot lives in .../snapshots/<commit>/; a plain folder is identified by its weights.
    if folder.parent.name == "snapshots":
        found_revision = folder.name
    elif revision:
        found_revision = revision
    else:
        found_revision = f"local folder, model.safetensors sha256 {weights_digest(folder)[:16]}"
    name = model.rstrip("/").split("/")[-1]
    license_id = (
        _card_license(folder)
        or KNOWN_LICENSES.get(name)
        or KNOWN_LICENSES.get(str(read_config(folder).get("_name_or_path", "")).split("/")[-1], "unknown")
    )
    return {"model": model, "revision": found_revision, "license": license_id}


def weights_digest(folder: Path) -> str:
    """sha256 over the checkpoint's weight files (names and bytes), to identify a local folder."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin")):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _card_license(folder: Path) -> str | None:
    card = folder / "README.md"
    if not card.is_file():
        return None
    match = re.search(r"^license:\s*([\w.-]+)\s*$", card.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
    return match.group(1) if match else None


def model_card(source: dict[str, str], dtype: str) -> str:
    """A short card: where the weights come from, under which licence, and how to load them."""
    license_id = source["license"]
    license_name = _LICENSE_NAMES.get(license_id, license_id)
    front: dict[str, Any] = {"license": license_id, "library_name": "transformers", "pipeline_tag": "text-ranking"}
    header = "\n".join(f"{key}: {value}" for key, value in front.items())
    return f"""---
{header}
base_model: {source["model"]}
tags:
- reranker
- cross-encoder
- converted
---

# {source["model"].rstrip("/").split("/")[-1]} (standard transformers checkpoint)

Converted from **{source["model"]}** (revision `{source["revision"]}`) by `jina-local-rerank convert`.
The weights are the original ones, renamed from Jina's flash-attention layout into transformers'
own `XLMRobertaForSequenceClassification` and stored as {dtype}; the tokenizer files are the
original ones. No remote code is needed (`trust_remote_code=False`).

Licence: **{license_name}** (`{license_id}`), the licence of the source model, which applies to this
conversion unchanged.

Scores: relevance is the sigmoid of the single logit, as in Jina's `compute_score`; inputs are cut to
1024 tokens (the tokenizer's `model_max_length`).

```python
from sentence_transformers import CrossEncoder

model = CrossEncoder("path/to/this/folder")  # applies the sigmoid (num_labels=1)
scores = model.predict([["query", "document"]])
```

```python
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
model = AutoModelForSequenceClassification.from_pretrained("path/to/this/folder")
```
"""


def _replace_folder(staging: Path, output: Path) -> None:
    """Move the finished files into ``output`` (emptied first), so a failed run leaves no half checkpoint."""
    if output.is_dir():
        for item in output.iterdir():
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
        for item in staging.iterdir():
            shutil.move(str(item), output / item.name)
    else:
        staging.rename(output)
