"""Make any Python ``str`` encodable before it reaches the tokenizer.

A ``str`` may hold lone UTF-16 surrogates (``"\\ud800"``, from a broken JSON escape or a bad
decode); the Rust tokenizer cannot take them and raises an opaque ``TypeError``. One malformed
document must not sink a whole request, so such characters become U+FFFD and the text is scored.
"""

from __future__ import annotations

import logging
import re
import threading

logger = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")
_warned = threading.Event()


def repair_text(text: str) -> str:
    """``text`` unchanged if it is valid Unicode; else surrogate pairs joined and lone ones as U+FFFD.

    The first repair in the process is logged as a warning (once, not per document).
    """
    if _SURROGATE.search(text) is None:
        return text
    # UTF-16 round trip: a high+low surrogate pair becomes the character it encodes; a lone one is U+FFFD.
    repaired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if not _warned.is_set():
        _warned.set()
        logger.warning(
            "Replaced unencodable characters (lone UTF-16 surrogates) with U+FFFD before tokenizing; "
            "such text is scored as repaired. Logged once per process."
        )
    return repaired


def repair_texts(texts: list[str]) -> list[str]:
    return [repair_text(text) for text in texts]
