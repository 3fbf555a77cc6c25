"""How much of the architecture document two renders share, per section.

Usage: python scripts/doc_overlap.py A.md B.md

A line counts as shared when difflib matches it, in order, between the two documents' versions of
the same section (blank lines, fences and table rulers are ignored). The share is
2 * shared / (lines of A + lines of B), the ratio difflib reports, per section and overall.
Issue 16 asks that the default render and a healthcare microservices render share under 40 %.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

IGNORED = re.compile(r"^\s*$|^```|^\|[\s:|-]+\|$")


def sections(text: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {"(preamble)": []}
    current = "(preamble)"
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            result[current] = []
        if not IGNORED.match(line):
            result[current].append(line.strip())
    return result


def share(a: list[str], b: list[str]) -> tuple[int, int]:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    shared = sum(block.size for block in matcher.get_matching_blocks())
    return shared, len(a) + len(b)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    a, b = (sections(Path(p).read_text(encoding="utf-8")) for p in argv)
    total_shared = total_lines = 0
    print(f"{'section':<45} {'lines A':>7} {'lines B':>7} {'shared':>7}")
    for name in list(dict.fromkeys([*a, *b])):
        shared, lines = share(a.get(name, []), b.get(name, []))
        total_shared += shared
        total_lines += lines
        ratio = 2 * shared / lines if lines else 0.0
        print(f"{name[:45]:<45} {len(a.get(name, [])):>7} {len(b.get(name, [])):>7} {ratio:>7.0%}")
    print(f"{'whole document':<45} {'':>7} {'':>7} {2 * total_shared / total_lines:>7.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
