"""The quality model (extensions/data/quality.yml): the meaning of each quality goal of the industry
profile, the scenarios that measure them, and the tactics that realise them, with the record that
decides each and whether the render builds it. Sections 1.2, 2.2 and 2.4 of the document print it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .adrs import case_fields, holds
from .backing import DATABASES
from .contexts import modules as context_modules
from .contract import npm_scripts
from .data import industry_profile, load_data
from .features import crud_api_styles, features
from .objectives import recovery, slo, telemetry

SCENARIO_FIELDS = ("stimulus", "environment", "response", "measure")


def _values(answers: Mapping[str, Any]) -> dict[str, Any]:
    objectives = slo(answers)
    targets = recovery(answers)
    first = context_modules(answers)[0]
    values: dict[str, Any] = {
        "p95_ms": objectives["p95_ms"],
        "availability": objectives["availability"],
        "window_days": objectives["window_days"],
        "coverage": objectives["coverage"],
        "database_label": DATABASES[answers["database"]]["label"],
        "entity": first.entity_snake.replace("_", " "),
        "histogram": telemetry(answers)["http_duration_histogram"],
        "rpo_minutes": targets["rpo_minutes"],
        "rto_minutes": targets["rto_minutes"],
        "page_max": load_data("aggregate")["page"]["max_limit"],
    }
    for script in npm_scripts(answers):
        values["npm_" + script.replace(":", "_").replace("-", "_")] = f"`npm run {script}`"
    return values


def _facts(answers: Mapping[str, Any]) -> dict[str, Any]:
    flags = features(answers)
    # lists: the app serves a paginated list through a generated API style
    lists = bool(crud_api_styles(answers))
    return {**answers, "app": flags["app"], "lists": lists, "modular": flags["modular"],
            "microservices": flags["microservices"],
            "broker": flags["broker"], "redis": flags["redis"], "mesh": flags["mesh"]}


def _selected(entries: list[dict[str, Any]], facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    result = []
    for entry in entries:
        if not holds(entry.get("when"), facts):
            continue
        fragments = case_fields(entry, facts)
        if fragments is None:
            continue
        result.append({**entry, "fragments": fragments})
    return result


def quality(answers: Mapping[str, Any]) -> dict[str, Any]:
    data = load_data("quality")
    values = _values(answers)
    facts = _facts(answers)
    order = [str(goal) for goal in industry_profile(answers["industry"])["quality_goals"]][:5]
    goals = [{"key": key, "meaning": str(data["goals"][key]["meaning"]).format(**values)} for key in order]
    scenarios = [
        {"id": s["id"], "goal": s["goal"], "adr": s.get("adr", ""),
         **{name: str(s[name]).format(**values, **{k: str(v).format(**values) for k, v in s["fragments"].items()})
            for name in SCENARIO_FIELDS}}
        for s in _selected(data["scenarios"], facts)
    ]
    tactics = [
        {"goal": t["goal"], "text": str(t["text"]).format(**values, **t["fragments"]), "adr": t.get("adr", ""),
         "generated": bool(t["generated"])}
        for t in _selected(data["tactics"], facts)
    ]
    # the goals the scenarios measure beyond the profile's (deployability), after the profile's own
    extra = [s["goal"] for s in scenarios if s["goal"] not in order]
    tree = [
        {"goal": key,
         "scenarios": [s["id"] for s in scenarios if s["goal"] == key],
         "tactics": [t for t in tactics if t["goal"] == key]}
        for key in order + list(dict.fromkeys(extra))
    ]
    return {"goals": goals, "scenarios": scenarios, "tree": tree}
