"""From a resolved checkpoint folder to what ``Reranker`` runs: the execution plan and its scorer.

The architecture (read from the config, before any weight) and the machine give the plan; the plan
says where and how the model loads, which speed-ups it switches on, and whether a non-torch runner
replaces the forward. Cross-encoders come back as a ``PairwisePipeline``, jina-reranker-v3 as a
``ListwiseScorer``. A score cache given here is handed to the scorer with the model's fingerprint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentence_transformers import CrossEncoder

from jina_local_rerank import backends, compat
from jina_local_rerank.models.checkpoint import Architecture, detect_architecture, hard_max_length, read_config
from jina_local_rerank.models.loader import load_cross_encoder, release_weights
from jina_local_rerank.models.native import NativeTransformer, architecture_traits
from jina_local_rerank.models.registry import ModelSpec
from jina_local_rerank.runtime.plan import ExecutionPlan, MachineCapabilities, RequestedSettings, make_plan
from jina_local_rerank.scoring.inference import PairScorer
from jina_local_rerank.scoring.listwise_scorer import ListwiseScorer, load_listwise_scorer
from jina_local_rerank.scoring.pairwise import LengthLimits, PairwisePipeline
from jina_local_rerank.scoring.score_cache import ScoreCache, model_fingerprint
from jina_local_rerank.text.tokenization import PairTokenizer


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and the plan it runs: a cross-encoder's pipeline, or v3's listwise scorer."""

    plan: ExecutionPlan
    architecture: Architecture
    cross_encoder: CrossEncoder | None = None
    pipeline: PairwisePipeline | None = None
    listwise: ListwiseScorer | None = None


def load_model(
    folder: Path,
    *,
    model_name: str,
    requested: RequestedSettings,
    machine: MachineCapabilities,
    spec: ModelSpec | None,
    allow_long_context: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
    score_cache: ScoreCache[Any] | None = None,
) -> LoadedModel:
    """Plan, then load: errors about settings that cannot run come before any weight is read."""
    architecture = detect_architecture(read_config(folder))
    plan = make_plan(requested, architecture_traits(architecture, model_name), machine)
    if architecture is Architecture.JINA_V3:
        listwise = load_listwise_scorer(
            folder,
            device=plan.device,
            dtype=plan.dtype,
            token_budget=plan.token_budget,
            cache=score_cache,
            fingerprint=model_fingerprint(model_name, revision, folder, plan),
        )
        return LoadedModel(plan, architecture, listwise=listwise)
    cross_encoder = load_cross_encoder(
        folder,
        architecture,
        device=plan.device,
        dtype=plan.dtype,
        attn_implementation=plan.attn_implementation,
        trust_remote_code=trust_remote_code,
    )
    tokenizer = PairTokenizer(cross_encoder.tokenizer)
    module = cross_encoder[0]
    if isinstance(module, NativeTransformer):
        if plan.fused_norms:
            module.use_fused_norms()
        if plan.cuda_graphs:
            module.use_cuda_graphs(tokenizer.pad_token_id)
    config = cross_encoder.config
    assert config is not None
    # What transformers settled on (a generic model may not take the attention asked for).
    plan = dataclasses.replace(plan, attn_implementation=compat.attention_implementation(config))
    runner = None
    if plan.precision is not None:
        runner = backends.load_runner(
            plan.backend,
            plan.precision,
            folder=folder,
            model_name=model_name,
            architecture=architecture,
            cross_encoder=cross_encoder,
        )
        release_weights(cross_encoder)
    hard = hard_max_length(config, architecture, allow_long_context)
    if hard is not None and hard % plan.pad_to_multiple:
        # Bucketed widths must never exceed the positions the model has.
        plan = dataclasses.replace(plan, pad_to_multiple=1)
    scorer = PairScorer(
        cross_encoder,
        tokenizer.pad_token_id,
        plan.token_budget,
        plan.packed,
        runner=runner,
        cache=score_cache,
        fingerprint=model_fingerprint(model_name, revision, folder, plan),
        pad_to_multiple=plan.pad_to_multiple,
    )
    tokenizer_limit = int(cross_encoder.tokenizer.model_max_length)
    limits = LengthLimits(
        model_name=model_name,
        max_length=spec.context_length if spec else min(tokenizer_limit, hard or tokenizer_limit),
        hard_max_length=hard,
        long_context_hint=architecture is Architecture.JINA_BERT,
    )
    if spec is not None:
        limits = dataclasses.replace(
            limits, rerank_max_length=spec.rerank_max_length, rerank_max_query_length=spec.rerank_max_query_length
        )
    return LoadedModel(plan, architecture, cross_encoder, PairwisePipeline(tokenizer, scorer, limits))
