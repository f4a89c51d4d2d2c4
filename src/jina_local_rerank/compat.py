"""Every private or version-dependent name of transformers, sentence-transformers and tokenizers we use.

One upgrade of those libraries can rename any of these; they are reached only through this module,
and tests/test_compat.py fails loudly, naming the shim, when one of them no longer looks as expected.
"""

from __future__ import annotations

from typing import Any


def attention_implementation(config: Any) -> str:
    """The attention a loaded transformers model runs (``config._attn_implementation``)."""
    return str(config._attn_implementation)
