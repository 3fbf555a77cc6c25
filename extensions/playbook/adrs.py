"""The architecture decision records the answers call for, with their numbers (extensions/data/adrs.yml).

The template's records take 0001 to TEAM_ADR_FIRST - 1 in catalogue order; the team's own records
start at TEAM_ADR_FIRST, so a newer playbook that adds a record can never take a number (or a file
name) the team already used. The catalogue is append-only across releases, so for unchanged answers
every record keeps its number and file name, and `copier update` only adds files (copier.yml lists
numbered records under _skip_if_exists). migrations/check_adr_numbers.py fails an update that would
leave two records with one number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .answers import label
from .backing import DATABASES
from .data import industry_profile, load_data, stack_manifest
from .naming import kebab_case

TEAM_ADR_FIRST = 100


@dataclass(frozen=True)
class Adr:
    number: int
    id: str
    key: str
    title: str
    status: str
    file: str
    # what the render builds of the decision: "yes", "no", or "partly: <what>" (adrs.yml: generated)
    generated: str


def catalogue() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = load_data("adrs")["records"]
    return records


def holds(condition: Mapping[str, Any] | None, answers: Mapping[str, Any]) -> bool:
    """A catalogue `when`: every answer equals its value (a list answer contains it); `not` inverts;
    `any` holds when one of its conditions holds. extensions/data/registers.yml uses it too."""
    for name, expected in (condition or {}).items():
        if name == "not":
            if holds(expected, answers):
                return False
            continue
        if name == "any":
            if not any(holds(option, answers) for option in expected):
                return False
            continue
        value = answers[name]
        if not (expected in value if isinstance(value, list) else value == expected):
            return False
    return True


def case_fields(entry: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields of an entry's first `cases` item whose `when` holds ({} without cases, None when
    no case holds): the data files' way to vary a text by the answers."""
    if "cases" not in entry:
        return {}
    case = next((case for case in entry["cases"] if holds(case.get("when"), known)), None)
    return None if case is None else {name: value for name, value in case.items() if name != "when"}


def title_values(answers: Mapping[str, Any]) -> dict[str, str]:
    broker = answers["message_broker"]
    broker_label = "in-process events only, no broker yet" if broker == "none" else label("message_broker", broker)
    return {
        "architecture_label": label("architecture", answers["architecture"]),
        "database_label": label("database", answers["database"]),
        "module_unit": DATABASES[answers["database"]]["module_unit"].capitalize(),
        "api_label": ", ".join(label("api_styles", style) for style in answers["api_styles"]),
        "broker_label": broker_label,
        "cloud_label": label("cloud", answers["cloud"]),
        "nest": str(stack_manifest()["frameworks"]["nestjs"]["chosen"]),
        "node": str(answers["node_version"]),
        "adapter_label": label("http_adapter", answers["http_adapter"]),
        "auth_label": label("auth", answers["auth"]),
        "industry_label": str(industry_profile(answers["industry"])["label"]),
    }


def generated(record: Mapping[str, Any], answers: Mapping[str, Any]) -> str:
    """Whether the render builds what the record decides (adrs.yml: generated)."""
    rule = str(record["generated"])
    if rule == "always":
        return "yes"
    if rule == "never":
        return "no"
    if not answers["include_app"]:
        return "no: the application is not generated"
    return "yes" if rule == "app" else rule


def adrs(answers: Mapping[str, Any]) -> list[Adr]:
    values = title_values(answers)
    result: list[Adr] = []
    for record in catalogue():
        if not holds(record.get("when"), answers):
            continue
        number = len(result) + 1
        if number >= TEAM_ADR_FIRST:
            raise ValueError(f"the ADR catalogue outgrew the template's range 0001-{TEAM_ADR_FIRST - 1:04d}")
        result.append(Adr(number, f"{number:04d}", record["key"], record["title"].format(**values), record["status"],
                          f"{number:04d}-{kebab_case(record['key'])}.md", generated(record, answers)))
    return result
