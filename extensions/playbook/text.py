"""Free text written into YAML, Markdown and Mermaid so that it reads back as exactly that text."""

from __future__ import annotations

import json
import re
from typing import Any


def yaml_str(value: Any) -> str:
    """A YAML scalar that reads back as exactly `value` (a JSON string is valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~&#$])")
MARKDOWN_BLOCK_START = re.compile(r"^(\s*\d*)([-+=>.)])")


def md_text(value: Any) -> str:
    """Free text for one line of Markdown that renders as exactly that text.

    Characters with inline meaning are backslash-escaped (CommonMark allows it for any ASCII
    punctuation), and so is a leading list, quote or setext marker; other punctuation stays readable.
    """
    escaped = MARKDOWN_INLINE.sub(r"\\\1", str(value))
    return MARKDOWN_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped, count=1)


MERMAID_SPECIAL = frozenset('"#;<>`{}[]()|\\')


def mermaid_text(value: Any) -> str:
    """Free text for a quoted Mermaid label: characters with Mermaid meaning become entity codes (#35;)."""
    return "".join(f"#{ord(char)};" if char in MERMAID_SPECIAL else char for char in str(value))


def yaml_flow_list(values: list[str] | tuple[str, ...]) -> str:
    """A list as a YAML flow sequence, for templated question defaults."""
    return json.dumps(list(values))
