"""Checks what the built wheel holds: our packages and assets, nothing from the repo's other folders,
and no file in a framework's shared namespace folders outside our own leaf packages."""

from __future__ import annotations

import sys
import zipfile

# Namespace folders that other distributions (the frameworks, jina-haystack, ...) install into too.
SHARED_NAMESPACES = (
    "llama_index/",
    "llama_index/postprocessor/",
    "haystack_integrations/",
    "haystack_integrations/components/",
    "haystack_integrations/components/rankers/",
)
OUR_LEAVES = (
    "jina_local_rerank/",
    "langchain_jina_local/",
    "llama_index/postprocessor/jina_local_rerank/",
    "haystack_integrations/components/rankers/jina_local/",
)
REQUIRED = (
    "jina_local_rerank/__init__.py",
    "jina_local_rerank/py.typed",
    "jina_local_rerank/cli/bench/assets/v2/tokenizer.json",
    "jina_local_rerank/cli/bench/assets/v1/tokenizer.json",
    "langchain_jina_local/__init__.py",
    "langchain_jina_local/py.typed",
    "llama_index/postprocessor/jina_local_rerank/__init__.py",
    "llama_index/postprocessor/jina_local_rerank/py.typed",
    "haystack_integrations/components/rankers/jina_local/__init__.py",
    "haystack_integrations/components/rankers/jina_local/py.typed",
)


def main(path: str) -> int:
    names = [name for name in zipfile.ZipFile(path).namelist() if ".dist-info/" not in name]
    problems = [f"missing {name}" for name in REQUIRED if name not in names]
    problems += [f"not ours to ship: {name}" for name in names if not name.startswith(OUR_LEAVES)]
    problems += [
        f"shadows a shared namespace: {name}" for name in names if name.rsplit("/", 1)[0] + "/" in SHARED_NAMESPACES
    ]
    problems += [
        f"repo folder in the wheel: {name}"
        for name in names
        if name.split("/")[0] in {"tests", "notebooks", "docs", "benchmarks"}
    ]
    licences = [name for name in zipfile.ZipFile(path).namelist() if name.endswith(".dist-info/licenses/LICENSE")]
    if not licences:
        problems.append("no LICENSE in the wheel's metadata")
    for problem in problems:
        print(f"check_wheel: {problem}", file=sys.stderr)
    print(f"check_wheel: {path}: {len(names)} files, {'OK' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
