"""Copier migration: rename answers in a generated repository's answers file.

    python rename_answers.py .copier-answers.yml old_name=new_name [old=new ...]

Runs in the generated repository (copier's `before` stage of `copier update`), before copier reads
the answers, so the newer template finds each answer under its new name. Idempotent: an answer
already under its new name is kept, a missing old name is not an error, and running it twice
changes nothing the second time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def rename(answers: dict[str, object], renames: list[tuple[str, str]]) -> list[str]:
    """Apply the renames in place; returns a line per change for the log."""
    changes = []
    for old, new in renames:
        if old not in answers:
            continue
        value = answers.pop(old)
        if new in answers:
            changes.append(f"dropped {old} (the answer is already stored as {new})")
        else:
            answers[new] = value
            changes.append(f"renamed {old} to {new}")
    return changes


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any("=" not in pair for pair in argv[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"rename_answers: {path} not found; nothing to migrate", file=sys.stderr)
        return 0
    text = path.read_text(encoding="utf-8")
    answers = yaml.safe_load(text) or {}
    renames = [tuple(pair.split("=", 1)) for pair in argv[1:]]
    changes = rename(answers, renames)  # type: ignore[arg-type]
    if changes:
        header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
        path.write_text(header + yaml.safe_dump(answers, sort_keys=True, allow_unicode=True), encoding="utf-8")
        for change in changes:
            print(f"rename_answers: {path}: {change}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
