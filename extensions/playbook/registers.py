"""The registers of the architecture document's appendices (extensions/data/registers.yml): Appendix A's
open questions and assumptions, Appendix B's risks and technical debt.

An entry is selected when its `when` holds (adrs.holds, over the answers and `facts`); the first of its
`cases` that holds adds its fields, and an entry whose cases all fail is dropped. Braces in the text
print `values`. The selected entries are numbered in file order: Q-01, Q-02, ... and R-01, R-02, ...
The document cites a question by its key: oq.ref('<key>') of includes/doc/questions.jinja.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from .adrs import Adr, holds
from .answers import label
from .backing import BROKERS
from .contexts import APP_PORT, Service
from .data import industry_profile, load_data, stack_manifest
from .objectives import recovery


@dataclass(frozen=True)
class Question:
    id: str
    key: str
    topic: str
    owner: str
    section: str
    text: str


@dataclass(frozen=True)
class Risk:
    id: str
    key: str
    risk: str
    consequence: str
    mitigation: str


@dataclass(frozen=True)
class Registers:
    questions: list[Question]
    risks: list[Risk]


def catalogue() -> dict[str, list[dict[str, Any]]]:
    registers: dict[str, list[dict[str, Any]]] = load_data("registers")
    return registers


def facts(answers: Mapping[str, Any], records: Sequence[Adr],
          cloud_services: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a `when` tests: the answers, and what the model derives from them."""
    derived = {
        "proposed_adrs": any(record.status == "proposed" and record.generated != "yes" for record in records),
        "proposed_generated_adrs": any(record.status == "proposed" and record.generated == "yes" for record in records),
        "managed_cloud": cloud_services is not None,
        "broker_not_managed": cloud_services is not None and answers["message_broker"] != "none"
        and not cloud_services["broker"],
        "node_is_playbook_line": str(answers["node_version"])
        == str(stack_manifest()["frameworks"]["node"]["playbook"]).split(".")[0],
    }
    return {**answers, **derived}


def values(answers: Mapping[str, Any], records: Sequence[Adr], services: Sequence[Service],
           cloud_services: Mapping[str, Any] | None, objectives: Mapping[str, Any]) -> dict[str, Any]:
    """What `{name}` prints in a text. A value that does not exist for these answers is left out, so an
    entry that prints it without a `when` to match fails loudly."""
    node = str(answers["node_version"])
    result: dict[str, Any] = {
        "industry_label": industry_profile(answers["industry"])["label"],
        "cloud_label": label("cloud", answers["cloud"]),
        "owner": answers["owner"],
        "app_port": APP_PORT,
        "p95_ms": objectives["p95_ms"],
        "slo_window_days": objectives["window_days"],
        "proposed_titles": "; ".join(record.title for record in records
                                     if record.status == "proposed" and record.generated != "yes"),
        "proposed_generated_titles": "; ".join(record.title for record in records
                                               if record.status == "proposed" and record.generated == "yes"),
        "service_count": len(services),
        "node_version": node,
        "node_end_of_life": stack_manifest()["node"][node]["end_of_life"],
        "rpo_minutes": recovery(answers)["rpo_minutes"],
        "rto_minutes": recovery(answers)["rto_minutes"],
    }
    if answers["message_broker"] != "none":
        result["broker_label"] = BROKERS[answers["message_broker"]]["label"]
    if cloud_services is not None:
        result["cloud_secrets"] = cloud_services["secrets"]
    return result


def select(entries: Sequence[Mapping[str, Any]], columns: Sequence[str], known: Mapping[str, Any],
           printed: Mapping[str, Any]) -> list[dict[str, str]]:
    """The entries whose `when` holds for `known`, each as its columns with the braces filled."""
    selected: list[dict[str, str]] = []
    for entry in entries:
        if not holds(entry.get("when"), known):
            continue
        chosen = {name: value for name, value in entry.items() if name not in ("when", "cases")}
        if "cases" in entry:
            case = next((case for case in entry["cases"] if holds(case.get("when"), known)), None)
            if case is None:
                continue
            chosen.update({name: value for name, value in case.items() if name != "when"})
        fragments = {name: str(value).format_map(printed) for name, value in chosen.items() if name not in columns}
        selected.append({column: str(chosen[column]).format_map({**printed, **fragments}) for column in columns})
    return selected


def columns(register: type[Question] | type[Risk]) -> list[str]:
    return [field.name for field in fields(register) if field.name != "id"]


def build_registers(answers: Mapping[str, Any], records: Sequence[Adr], services: Sequence[Service],
                    cloud_services: Mapping[str, Any] | None, objectives: Mapping[str, Any]) -> Registers:
    """The registers for the answers, from the model's ADRs, services, cloud services and objectives."""
    data = catalogue()
    known = facts(answers, records, cloud_services)
    printed = values(answers, records, services, cloud_services, objectives)
    questions = select(data["questions"], columns(Question), known, printed)
    risks = select(data["risks"], columns(Risk), known, printed)
    return Registers(
        questions=[Question(id=f"Q-{number:02d}", **entry) for number, entry in enumerate(questions, 1)],
        risks=[Risk(id=f"R-{number:02d}", **entry) for number, entry in enumerate(risks, 1)],
    )
