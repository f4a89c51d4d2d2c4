"""The one line ``serve`` prints when it listens: where, what, with which protections."""

from __future__ import annotations

from fastapi import FastAPI


def startup_line(app: FastAPI, host: str, port: int) -> str:
    """``URL, models (device, dtype), auth on/off, limits`` of an app made by ``create_app``."""
    context = app.state.context
    models = ", ".join(model.description for model in context.table.models)
    auth = "on" if context.api_key else "off"
    return f"jina-local-rerank serving http://{host}:{port} | models: {models} | auth: {auth} | limits: {context.limits.summary()}"
