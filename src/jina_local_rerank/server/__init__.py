"""A local rerank server that speaks Jina's and Cohere's rerank APIs (``pip install "jina-local-rerank[server]"``)."""

from jina_local_rerank.server.app import API_KEY_ENV, create_app
from jina_local_rerank.server.models import served_names
from jina_local_rerank.server.settings import ServerLimits
from jina_local_rerank.server.startup import startup_line
from jina_local_rerank.server.transport import run_server

__all__ = ["API_KEY_ENV", "ServerLimits", "create_app", "run_server", "served_names", "startup_line"]
