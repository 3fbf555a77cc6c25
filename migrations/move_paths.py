"""Copier migration: move files or folders of a generated repository to their new place.

    python move_paths.py old/path=new/path [old=new ...]

For a template release that moves team-owned files (for example `k8s/` to `deploy/k8s/`): run it
at copier's `before` stage of `copier update`, so copier compares the team's files at their new
place. Idempotent: a path that is already at its new place, or is missing, is left alone; it
never overwrites an existing target, and it never leaves the repository (paths are relative).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def move(root: Path, old: str, new: str) -> str:
    source, target = (root / old).resolve(), (root / new).resolve()
    for path in (source, target):
        if not path.is_relative_to(root.resolve()):
            raise SystemExit(f"move_paths: {path} is outside the repository")
    if not source.exists():
        return f"{old}: not present (already moved or never generated)"
    if target.exists():
        return f"{old}: kept, because {new} already exists"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
    return f"moved {old} to {new}"


def main(argv: list[str]) -> int:
    if not argv or any("=" not in pair for pair in argv):
        print(__doc__, file=sys.stderr)
        return 2
    for pair in argv:
        old, new = pair.split("=", 1)
        print(f"move_paths: {move(Path.cwd(), old, new)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
