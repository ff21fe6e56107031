"""Babel extractor for form YAML: prompts, labels, summaries and refusals are msgids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml

KEYS = ("prompt", "label", "summary", "refusal")


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    data = yaml.safe_load(fileobj.read().decode("utf-8"))

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in KEYS and isinstance(value, str) and value:
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for text in walk(data):
        yield 0, None, text, []
