"""What the service does when a dependency fails (extensions/data/resilience.yml): the limits the code
templates print, and the failure and recovery scenarios of the document's section 11.3, each naming
the files that implement it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import calls, contexts, layout
from .adrs import case_fields, holds
from .answers import label
from .backing import DATABASES
from .data import load_data
from .features import has_broker, needs_redis

SCENARIO_FIELDS = ("dependency", "at_start", "while_down", "on_return")


def limits() -> dict[str, int]:
    return dict(load_data("resilience")["limits"])


def seconds(numbers: Mapping[str, int]) -> dict[str, str]:
    """Each *_ms limit in seconds as the document prints it: publish_ms 5000 -> publish_s "5"."""
    return {name[:-3] + "_s": f"{number / 1000:g}" for name, number in numbers.items() if name.endswith("_ms")}


def _values(answers: Mapping[str, Any], numbers: Mapping[str, int]) -> dict[str, Any]:
    values: dict[str, Any] = {**numbers, **seconds(numbers)}
    values["ready_out_s"] = numbers["readiness_period_s"] * numbers["readiness_failure_threshold"]
    values["database_label"] = DATABASES[answers["database"]]["label"]
    broker = answers["message_broker"]
    values["broker_label"] = "" if broker == "none" else label("message_broker", broker)
    return values


def _directories(answers: Mapping[str, Any]) -> dict[str, str]:
    dirs = layout.directories(answers)
    return {"platform": dirs["platform_dir"], "redis": dirs["redis_dir"], "messaging": dirs["messaging_dir"],
            "deploy": "deploy/k8s"}


def scenarios(answers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The scenarios whose dependency the answers include, texts filled in, evidence as render paths."""
    numbers = limits()
    values = _values(answers, numbers)
    module_list = contexts.modules(answers)
    grpc_calls = calls.grpc_calls(answers, module_list, contexts.services(answers, module_list))
    facts = {**answers, "redis": needs_redis(answers), "broker": has_broker(answers), "app": answers["include_app"],
             "grpc_calls": bool(grpc_calls)}
    dirs = _directories(answers)
    result = []
    for entry in load_data("resilience")["scenarios"]:
        if not holds(entry.get("when"), facts):
            continue
        fragments = case_fields(entry, facts)
        if fragments is None:
            continue
        filled = {name: str(entry[name]).format(**values, **fragments) for name in SCENARIO_FIELDS}
        evidence = [f"{dirs[where]}/{path}" for where, paths in entry["evidence"].items() if where != "clients"
                    for path in paths]
        if "clients" in entry["evidence"]:  # each service's client of the service it calls
            evidence += [f"{call.path}/{call.file}.ts" for call in grpc_calls]
        result.append({"key": entry["key"], **filled, "evidence": evidence if answers["include_app"] else []})
    return result


def resilience(answers: Mapping[str, Any]) -> dict[str, Any]:
    """limits as the code prints them (milliseconds), and in seconds as the document prints them."""
    numbers = limits()
    return {"limits": numbers, "seconds": seconds(numbers), "scenarios": scenarios(answers)}
