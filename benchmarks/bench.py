"""Speed benchmark (same as ``jina-local-rerank bench``): plain CrossEncoder.predict vs Reranker.

python benchmarks/bench.py --models v2-base v1-turbo --long --extra-dtype bfloat16
python benchmarks/bench.py --smoke
"""

import sys

from jina_local_rerank.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
