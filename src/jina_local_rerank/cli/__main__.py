"""``python -m jina_local_rerank.cli``."""

import sys

from jina_local_rerank.cli.main import main

sys.exit(main())
