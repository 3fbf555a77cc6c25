"""Section 7.9's compliance checklists and section 8.1's copies of record data
(extensions/data/compliance.yml).

A checklist row's status is computed, never typed as built: a part is "Generated" only when the row's
`evidence` names a file of this render and what the file shows (tests/test_compliance.py finds each
item's pattern in its file in every render of the matrix). An item in a file the application owns
(layout.APP_ONLY_PATHS) is "Required of the existing application" when the render has no app. What is
not built is the row's `status` (Proposed or Owner). Rows, checklists and copies are selected by their
`when` (adrs.holds, over the answers and `facts`); `cases` and `fragments` vary their text; braces
print `values`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import layout
from .adrs import Adr, holds
from .answers import label
from .backing import BROKERS
from .contexts import Module, Service
from .data import industry_profile, load_data
from .features import has_broker, is_microservices, needs_redis
from .registers import Registers
from .registers import facts as register_facts
from .registers import values as register_values
from .resilience import limits

GENERATED = "Generated"
REQUIRED = "Required of the existing application"
# where oq.ref (includes/doc/questions.jinja) and adr (includes/doc/macros.jinja) point from the document
QUESTIONS_ANCHOR = "#appendix-a-open-questions-and-assumptions"
ADR_BASE = "../adr/"
ROW_COLUMNS = ("control", "where", "evidence", "status", "other_evidence")
COPY_COLUMNS = ("name", "holds", "where", "kept", "evidence")
CHECKLIST_FIELDS = ("key", "title", "intro", "notes", "rows")


@dataclass(frozen=True)
class Evidence:
    """A file of the render and what it shows: the pattern finds it there (tests/test_compliance.py)."""

    file: str
    check: str
    pattern: str
    part: str


@dataclass(frozen=True)
class Row:
    control: str
    where: str
    evidence: str
    status: str
    # the evidence items this render generates (each file exists and matches its pattern)
    generated: list[Evidence]


@dataclass(frozen=True)
class Checklist:
    key: str
    title: str
    intro: str
    rows: list[Row]
    notes: str


@dataclass(frozen=True)
class Copy:
    """One place the application copies the data of its records to (section 8.1)."""

    name: str
    holds: str
    where: str
    kept: str
    written_by: str
    generated: list[Evidence]


@dataclass(frozen=True)
class RecordCopies:
    # the fields of a record each integration event copies, as Markdown: "`id`, `name` and `createdAt`"
    event_fields: str
    rows: list[Copy]


def catalogue() -> dict[str, Any]:
    data: dict[str, Any] = load_data("compliance")
    return data


def join_and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def app_only(path: str) -> bool:
    """A path the application owns: not rendered with include_app false."""
    return any(f"/{path}" == prefix or f"/{path}".startswith(prefix + "/") for prefix in layout.APP_ONLY_PATHS)


def facts(answers: Mapping[str, Any], records: Sequence[Adr],
          cloud_services: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a `when` tests: the registers' facts, and whether the context diagram shows a PSP."""
    systems = industry_profile(answers["industry"]).get("external_systems", [])
    return {**register_facts(answers, records, cloud_services),
            "psp_in_context": any(system["id"] == "psp" for system in systems)}


def links(records: Sequence[Adr], registers: Registers) -> dict[str, str]:
    """adr_<key> and q_<key>: the links the document's adr() and oq.ref() print."""
    result = {f"adr_{record.key}": f"[ADR-{record.id}]({ADR_BASE}{record.file})" for record in records}
    result.update({f"q_{question.key}": f"[{question.id}]({QUESTIONS_ANCHOR})" for question in registers.questions})
    return result


def processors(answers: Mapping[str, Any], cloud_services: Mapping[str, Any]) -> str:
    """The managed services of the cloud that hold or carry the records' data."""
    names = [cloud_services["kubernetes"], cloud_services["database"]]
    if needs_redis(answers):
        names.append(cloud_services["redis"])
    if has_broker(answers) and cloud_services["broker"]:
        names.append(cloud_services["broker"])
    names += [cloud_services["logs"], cloud_services["traces"]]
    return join_and(list(dict.fromkeys(names)))


def values(answers: Mapping[str, Any], records: Sequence[Adr], registers: Registers, services: Sequence[Service],
           modules: Sequence[Module], cloud_services: Mapping[str, Any] | None,
           objectives: Mapping[str, Any]) -> dict[str, Any]:
    """What `{name}` prints. A value that does not exist for these answers is left out, so a text that
    prints it without a `when` to match fails loudly."""
    microservices = is_microservices(answers)
    directories = layout.directories(answers)
    suite = modules[0].slug if microservices else "app"
    result: dict[str, Any] = {
        **register_values(answers, records, services, cloud_services, objectives),
        "e2e_spec": f"test/{suite}.e2e-spec.ts",
        "platform_dir": directories["platform_dir"],
        "unit": "service" if microservices else "module",
        "units": "services" if microservices else "modules",
        "entities": join_and([module.entity for module in modules]),
        "database_label": label("database", answers["database"]),
        "fields": join_and([f"`{name}`" for name in catalogue()["copies"]["event_fields"]]),
        **links(records, registers),
    }
    if directories["messaging_dir"]:
        result["messaging_dir"] = directories["messaging_dir"]
    if answers["service_mesh"] != "none":
        result["mesh_label"] = label("service_mesh", answers["service_mesh"])
    if cloud_services is not None:
        result.update({f"cloud_{name}": value for name, value in cloud_services.items() if isinstance(value, str)})
        result["processors_list"] = processors(answers, cloud_services)
    return result


def fill(text: Any, printed: Mapping[str, Any]) -> str:
    return str(text).format_map(printed)


def fill_pattern(pattern: str, printed: Mapping[str, Any]) -> str:
    """A pattern with <<name>> printing a value escaped for the regular expression."""
    return re.sub(r"<<(\w+)>>", lambda match: re.escape(str(printed[match.group(1)])), pattern)


def pick(entry: Mapping[str, Any], columns: Sequence[str], known: Mapping[str, Any],
         printed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The entry's fields (its first holding case applied) and the values its texts print, or None when
    its `when`, or every case, fails."""
    if not holds(entry.get("when"), known):
        return None
    chosen = {name: value for name, value in entry.items() if name not in ("when", "cases", "fragments")}
    if "cases" in entry:
        case = next((case for case in entry["cases"] if holds(case.get("when"), known)), None)
        if case is None:
            return None
        chosen.update({name: value for name, value in case.items() if name != "when"})
    fragments = {name: fill(value, printed) for name, value in chosen.items() if name not in columns}
    for name, options in entry.get("fragments", {}).items():
        option = next(option for option in options if holds(option.get("when"), known))
        fragments[name] = str(option["text"]).format_map(printed)
    return {name: chosen[name] for name in columns if name in chosen}, {**printed, **fragments}


def evidence(items: Sequence[Mapping[str, Any]], known: Mapping[str, Any],
             printed: Mapping[str, Any]) -> list[tuple[Evidence, str]]:
    """The items whose `when` holds, filled; each with its requirement of an existing application."""
    result = []
    for item in items:
        if holds(item.get("when"), known):
            result.append((Evidence(file=fill(item["file"], printed), check=fill(item["check"], printed),
                                    pattern=fill_pattern(item["pattern"], printed),
                                    part=fill(item.get("part", ""), printed)),
                           fill(item.get("requirement", ""), printed)))
    return result


def parts(items: Sequence[Evidence]) -> str:
    names = [item.part for item in items if item.part]
    return f" ({', '.join(dict.fromkeys(names))})" if names else ""


def by_file(items: Sequence[Evidence]) -> list[str]:
    """`file` check and check, one entry per file in order."""
    checks: dict[str, list[str]] = {}
    for item in items:
        checks.setdefault(item.file, []).append(item.check)
    return [f"`{file}` {' and '.join(dict.fromkeys(found))}" for file, found in checks.items()]


def row(entry: Mapping[str, Any], known: Mapping[str, Any], printed: Mapping[str, Any],
        include_app: bool) -> Row | None:
    picked = pick(entry, ROW_COLUMNS, known, printed)
    if picked is None:
        return None
    chosen, text = picked
    items = evidence(chosen.get("evidence", []), known, text)
    built = [item for item, _ in items if include_app or not app_only(item.file)]
    required = [(item, requirement) for item, requirement in items if not include_app and app_only(item.file)]
    status = [f"{GENERATED}{parts(built)}"] if built else []
    if required:
        status.append(f"{REQUIRED}{parts([item for item, _ in required])}")
    if "status" in chosen:
        status.append(fill(chosen["status"], text))
    shown = by_file(built)
    if required:
        shown.append("existing application: " + " and ".join(dict.fromkeys(r for _, r in required)))
    if "other_evidence" in chosen:
        shown.append(fill(chosen["other_evidence"], text))
    return Row(control=fill(chosen["control"], text), where=fill(chosen["where"], text),
               evidence="; ".join(shown), status="; ".join(status), generated=built)


def checklists(answers: Mapping[str, Any], known: Mapping[str, Any], printed: Mapping[str, Any]) -> list[Checklist]:
    result = []
    for entry in catalogue()["checklists"]:
        picked = pick(entry, CHECKLIST_FIELDS, known, printed)
        if picked is None:
            continue
        chosen, text = picked
        rows = [row(item, known, text, bool(answers["include_app"])) for item in chosen["rows"]]
        result.append(Checklist(key=chosen["key"], title=fill(chosen["title"], text),
                                intro=fill(chosen.get("intro", ""), text),
                                rows=[r for r in rows if r is not None], notes=fill(chosen.get("notes", ""), text)))
    return result


def copy_row(entry: Mapping[str, Any], known: Mapping[str, Any], printed: Mapping[str, Any],
             extra: Sequence[Mapping[str, Any]] = ()) -> Copy | None:
    picked = pick(entry, COPY_COLUMNS, known, printed)
    if picked is None:
        return None
    chosen, text = picked
    items = [item for item, _ in evidence([*chosen.get("evidence", []), *extra], known, text)]
    return Copy(name=fill(chosen["name"], text), holds=fill(chosen["holds"], text), where=fill(chosen["where"], text),
                kept=fill(chosen["kept"], text),
                written_by=", ".join(f"`{file}`" for file in dict.fromkeys(item.file for item in items)),
                generated=items)


def record_copies(answers: Mapping[str, Any], modules: Sequence[Module], services: Sequence[Service],
                  known: Mapping[str, Any], printed: Mapping[str, Any]) -> RecordCopies:
    """Where the generated application copies its records' data: each integration event and the inbox
    that stores it, then logs, traces and rate-limit counters."""
    data = catalogue()["copies"]
    rows: list[Copy] = []
    events = data["events"]
    if holds(events.get("when"), known):
        keeps = events["broker_keeps"][answers["message_broker"]]
        broker = [{"file": keeps.get("file", "{messaging_dir}/broker-options.ts"), "check": "configures the transport",
                   "pattern": keeps["pattern"]}]
        for index, module in enumerate(modules):
            consumer = modules[(index + 1) % len(modules)]
            database = services[(index + 1) % len(modules)].database if is_microservices(answers) \
                else services[0].database
            producer_database = services[index].database if is_microservices(answers) else services[0].database
            use_case = "handlers" if answers["cqrs"] else "service"
            local = {**printed, "event_type": module.integration_type, "event": module.event, "entity": module.entity,
                     "entity_kebab": module.entity_kebab, "module_slug": module.slug, "module_path": module.path,
                     "consumer_slug": consumer.slug, "consumer_path": consumer.path, "consumer_database": database,
                     "producer_database": producer_database, "use_case_file": f"{module.path}/application/"
                     f"{module.slug}.{use_case}.ts", "retention": str(limits()["outbox_retention_hours"]),
                     "broker_label": BROKERS[answers["message_broker"]]["label"], "broker_keeps": keeps["text"]}
            for part, extra in (("event", broker), ("outbox", []), ("inbox", [])):
                found = copy_row(events[part], known, local, extra)
                if found is not None:
                    rows.append(found)
    for entry in data["rows"]:
        found = copy_row(entry, known, printed)
        if found is not None:
            rows.append(found)
    return RecordCopies(event_fields=str(printed["fields"]), rows=rows)


def build(answers: Mapping[str, Any], records: Sequence[Adr], registers: Registers, services: Sequence[Service],
          modules: Sequence[Module], cloud_services: Mapping[str, Any] | None,
          objectives: Mapping[str, Any]) -> tuple[list[Checklist], RecordCopies]:
    """The checklists of section 7.9 and the copies of section 8.1 for the answers."""
    known = facts(answers, records, cloud_services)
    printed = values(answers, records, registers, services, modules, cloud_services, objectives)
    return checklists(answers, known, printed), record_copies(answers, modules, services, known, printed)
