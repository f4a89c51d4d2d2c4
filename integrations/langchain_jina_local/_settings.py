"""Model settings shared by the LangChain classes, and how they become a shared ``Reranker``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jina_local_rerank import DEFAULT_MODEL, Reranker, setting_text, shared_reranker


class ModelSettings(BaseModel):
    """Which model runs where; instances with equal settings share one loaded model."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str = Field(default=DEFAULT_MODEL, description="Hub id or local folder of the reranker.")
    device: str | None = Field(default=None, description="cpu, cuda, cuda:1, mps; None picks the best.")
    dtype: str | None = Field(default=None, description="float32, bfloat16 or float16; None picks the best.")
    local_files_only: bool | None = Field(default=None, description="Never contact the hub (None: HF_HUB_OFFLINE).")
    backend: str = Field(default="torch", description="torch, onnx or openvino (CPU runtimes).")
    reranker: Reranker | None = Field(default=None, exclude=True, description="A ready Reranker to use instead.")

    @field_validator("dtype", "device", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return setting_text(value)

    def model_post_init(self, context: Any) -> None:
        if self.reranker is None:
            self.reranker = shared_reranker(
                self.model,
                device=self.device,
                dtype=self.dtype,
                local_files_only=self.local_files_only,
                backend=self.backend,
            )

    @property
    def core(self) -> Reranker:
        assert self.reranker is not None
        return self.reranker
