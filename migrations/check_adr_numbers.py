"""Copier migration, run after every `copier update`: the ADR numbering rule.

    python check_adr_numbers.py <template root> <answers file>

The template's records are numbered 0001 up to TEAM_ADR_FIRST - 1 (extensions/playbook/adrs.py) in the
order of its append-only catalogue; the team's own records start at TEAM_ADR_FIRST. This check
runs in the generated repository once copier has written the update:

- two records with one number (for example a team record numbered inside the template's range and
  a record a newer playbook added under that number) fail the update, naming both files, so the
  collision is never silent;
- a record numbered inside the template's range that this template version does not generate
  (a team record in the wrong range, or a template record that an answer change renumbered or
  dropped) is reported, because the next playbook may take its number.

Nothing is renamed or deleted: ADRs belong to the team.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections import defaultdict
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

import yaml

ADR_DIR = Path("docs/adr")
RECORD = re.compile(r"^(\d{4})-.+\.md$")


def load_adrs(template_root: Path) -> ModuleType:
    """The template's ADR catalogue module (extensions/playbook/adrs.py), loaded by path."""
    directory = template_root / "extensions" / "playbook"
    spec = spec_from_file_location("_adr_check_playbook", directory / "__init__.py",
                                   submodule_search_locations=[str(directory)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"check_adr_numbers: cannot load {directory}")
    package = module_from_spec(spec)
    sys.modules[spec.name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{spec.name}.adrs")


def template_records(adrs: ModuleType, answers: dict[str, object]) -> set[str] | None:
    """File names of the records this template version generates, or None if the answers are incomplete."""
    try:
        return {adr.file for adr in adrs.adrs(answers)}
    except (KeyError, ValueError, TypeError):
        return None


def check(adr_dir: Path, team_first: int, generated: set[str] | None) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the numbered records in adr_dir."""
    by_number: dict[int, list[str]] = defaultdict(list)
    for path in sorted(adr_dir.glob("*.md")):
        match = RECORD.match(path.name)
        if match:
            by_number[int(match.group(1))].append(path.name)
    errors = [
        f"{adr_dir}: ADR number {number:04d} is used by {' and '.join(names)}; renumber the team's "
        f"record to the next free number from {team_first:04d}"
        for number, names in sorted(by_number.items())
        if len(names) > 1
    ]
    warnings = []
    if generated is not None:
        for number, names in sorted(by_number.items()):
            for name in names:
                if number < team_first and name not in generated and len(names) == 1:
                    warnings.append(
                        f"{adr_dir / name}: numbers below {team_first:04d} belong to the template's records "
                        f"and a newer playbook may use {number:04d}; give a team record a number from "
                        f"{team_first:04d} (an old template record that an answer change dropped can stay "
                        "with its status set to superseded or deprecated, or go)"
                    )
    return errors, warnings


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    template_root, answers_path = Path(argv[0]), Path(argv[1])
    if not ADR_DIR.is_dir():
        return 0
    adrs = load_adrs(template_root)
    answers = yaml.safe_load(answers_path.read_text(encoding="utf-8")) if answers_path.is_file() else {}
    errors, warnings = check(ADR_DIR, adrs.TEAM_ADR_FIRST, template_records(adrs, answers or {}))
    for line in warnings:
        print(f"check_adr_numbers: warning: {line}", file=sys.stderr)
    for line in errors:
        print(f"check_adr_numbers: error: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
