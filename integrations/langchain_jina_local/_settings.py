"""Model settings shared by the LangChain classes, and how they become a shared ``Reranker``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jina_local_rerank import Reranker, default_model, setting_text, shared_reranker, validation
from jina_local_rerank.options import OPTION_HELP


class ModelSettings(BaseModel):
    """Which model runs where; instances with equal settings share one loaded model (and its score cache)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str = Field(default_factory=default_model, description=OPTION_HELP["model"])
    device: str | None = Field(default=None, description=OPTION_HELP["device"])
    dtype: str | None = Field(default=None, description=OPTION_HELP["dtype"])
    local_files_only: bool | None = Field(default=None, description=OPTION_HELP["local_files_only"])
    backend: str = Field(default="torch", description=OPTION_HELP["backend"])
    cache_size: int | None = Field(default=None, ge=0, description=OPTION_HELP["cache_size"])
    reranker: Reranker | None = Field(default=None, exclude=True, description="A ready Reranker to use instead.")

    @field_validator("dtype", "device", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return setting_text(value)

    @field_validator("cache_size", mode="before")
    @classmethod
    def _cache_size(cls, value: Any) -> Any:
        return validation.check_non_negative_int("cache_size", value, allow_none=True)

    def model_post_init(self, context: Any) -> None:
        if self.reranker is None:
            self.reranker = shared_reranker(
                self.model,
                device=self.device,
                dtype=self.dtype,
                local_files_only=self.local_files_only,
                backend=self.backend,
                cache_size=self.cache_size,
            )

    @property
    def core(self) -> Reranker:
        assert self.reranker is not None
        return self.reranker
