"""Copier migration: list a new template file in each overlay's kustomization.

    python add_overlay_resource.py deploy/k8s/overlays network.yaml

The overlays are team-owned (`_skip_if_exists`): an update writes a new file into them but never
rewrites the team's kustomization.yaml. This adds `- <file>` to the `resources:` list of every
overlay that has the file and does not list it yet, right after the list's first entry, and
changes nothing else (comments and the team's edits stay). Idempotent: a second run finds the entry
and writes nothing. An overlay whose kustomization has no `resources:` list is reported, not edited.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ENTRY = re.compile(r"^(\s*)-\s+(\S+)\s*$")


def add_resource(kustomization: Path, resource: str) -> str:
    """Adds the resource in place; returns what happened, for the log."""
    lines = kustomization.read_text(encoding="utf-8").splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "resources:")
    except StopIteration:
        return f"{kustomization}: no resources list; add '- {resource}' by hand"
    entries = []
    for index in range(start + 1, len(lines)):
        match = ENTRY.match(lines[index])
        if not match:
            break
        entries.append((index, match))
    if any(match.group(2).strip("'\"") == resource for _, match in entries):
        return f"{kustomization}: lists {resource} already"
    indent = entries[0][1].group(1) if entries else "  "
    at = entries[0][0] + 1 if entries else start + 1
    lines.insert(at, f"{indent}- {resource}\n")
    kustomization.write_text("".join(lines), encoding="utf-8")
    return f"{kustomization}: added {resource} to resources"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    overlays, resource = Path(argv[0]), argv[1]
    for kustomization in sorted(overlays.glob("*/kustomization.yaml")):
        if (kustomization.parent / resource).is_file():
            print(f"add_overlay_resource: {add_resource(kustomization, resource)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
