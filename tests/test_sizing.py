"""Pod sizing against the measured figures of the started image (extensions/data/sizing.yml).

For every overlay of every render, the numbers are read from the manifests `kubectl kustomize`
prints (requests, limits, the HPA targets, NODE_OPTIONS of the ConfigMap) and the thresholds from
sizing.yml itself, not from the model that computed the manifests:

- the HPA adds pods when the average memory use passes request x memory target %; that point must
  lie at least the margin above the loaded RSS and above the idle RSS, or idle pods scale out;
- the V8 heap limit plus the room outside the heap (idle RSS plus the margin) fits in the memory limit;
- the heap limit is not reached before the HPA scales out;
- CPU: requests within limits, and the startup probe's budget covers the measured start time
  slowed down to the CPU limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, Renderer, load_yaml, run, tool
from matrix import all_combinations

from extensions.playbook import delivery as delivery_model

SIZING = load_yaml(REPO / "extensions" / "data" / "sizing.yml")
MEASURED = SIZING["measured"]
MARGIN = float(SIZING["rules"]["margin"])
HPA = SIZING["hpa"]
ENVIRONMENTS = delivery_model.ENVIRONMENTS

BINARY_UNITS = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0}
DECIMAL_UNITS = {"k": 1e3, "M": 1e6, "G": 1e9}


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity in MiB: 400Mi, 1Gi, 512M, 268435456."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity))
    assert match is not None, f"not a memory quantity: {quantity}"
    number, unit = float(match.group(1)), match.group(2)
    if unit in BINARY_UNITS:
        return number * BINARY_UNITS[unit]
    if unit in DECIMAL_UNITS or unit == "":
        return number * DECIMAL_UNITS.get(unit, 1.0) / 2**20
    raise AssertionError(f"unknown memory unit in {quantity}")


def millicores(quantity: str) -> float:
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def heap_limit(node_options: str) -> int:
    match = re.search(r"--max-old-space-size=([0-9]+)", node_options)
    assert match is not None, f"NODE_OPTIONS sets no heap limit: {node_options!r}"
    return int(match.group(1))


def utilisation_target(hpa: dict[str, Any], resource: str) -> int:
    targets = [metric["resource"]["target"] for metric in hpa["spec"]["metrics"]
               if metric["type"] == "Resource" and metric["resource"]["name"] == resource]
    assert len(targets) == 1, f"HPA {hpa['metadata']['name']} has no single {resource} target"
    assert targets[0]["type"] == "Utilization"
    return int(targets[0]["averageUtilization"])


def sizing_problems(docs: list[dict[str, Any]], sizing: dict[str, Any]) -> list[str]:
    """What breaks the sizing rules in one rendered overlay (empty when it holds them)."""
    measured, margin = sizing["measured"], float(sizing["rules"]["margin"])
    loaded, idle = float(measured["loaded_rss_mib"]), float(measured["idle_rss_mib"])
    non_heap = idle * (1 + margin)
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    problems: list[str] = []
    if not deployments:
        problems.append("no Deployment rendered")
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]["template"]["spec"]
        (container,) = [c for c in spec["containers"] if c["name"] == "app"]
        resources = container["resources"]
        request, limit = mebibytes(resources["requests"]["memory"]), mebibytes(resources["limits"]["memory"])
        hpa = hpas.get(name)
        if hpa is None:
            problems.append(f"{name}: no HorizontalPodAutoscaler")
            continue
        memory_target, cpu_target = utilisation_target(hpa, "memory"), utilisation_target(hpa, "cpu")
        if (memory_target, cpu_target) != (HPA["memory_target_percent"], HPA["cpu_target_percent"]):
            problems.append(f"{name}: HPA targets {memory_target} % memory, {cpu_target} % CPU; sizing.yml says "
                            f"{HPA['memory_target_percent']} % and {HPA['cpu_target_percent']} %")
        scale_out_at = request * memory_target / 100
        if scale_out_at < loaded * (1 + margin):
            problems.append(f"{name}: the HPA scales out at {scale_out_at:g} MiB ({memory_target} % of {request:g}), "
                            f"below the loaded RSS {loaded:g} MiB + {margin:.0%} = {loaded * (1 + margin):g} MiB")
        if scale_out_at <= idle:
            problems.append(f"{name}: the HPA scales out at {scale_out_at:g} MiB, not above the idle RSS {idle:g} MiB")
        options = "".join(config_maps.get(source["configMapRef"]["name"], {}).get("NODE_OPTIONS", "")
                          for source in container.get("envFrom", []) if "configMapRef" in source)
        heap = heap_limit(options)
        if heap + non_heap > limit:
            problems.append(f"{name}: heap {heap} MiB + non-heap {non_heap:g} MiB exceeds the {limit:g} MiB limit")
        if heap < scale_out_at:
            problems.append(f"{name}: the {heap} MiB heap limit is below the HPA scale-out point {scale_out_at:g} MiB")
        cpu_request, cpu_limit = millicores(resources["requests"]["cpu"]), millicores(resources["limits"]["cpu"])
        if cpu_request > cpu_limit:
            problems.append(f"{name}: CPU request {cpu_request:g}m above its limit {cpu_limit:g}m")
        # The start was measured on an unthrottled core; a smaller CPU limit slows it down in proportion.
        start = float(measured["start_to_ready_s"]) * max(1.0, 1000 / cpu_limit) * (1 + margin)
        probe = container["startupProbe"]
        budget = probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]
        if budget < start:
            problems.append(f"{name}: the startup probe allows {budget} s, the start takes up to {start:.1f} s")
    return problems


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    result = run([tool("kubectl"), "kustomize", str(overlay)])
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_every_overlay_is_sized_from_the_measured_figures(rendered: Path) -> None:
    for env in ENVIRONMENTS:
        docs = kustomize(rendered / "deploy" / "k8s" / "overlays" / env)
        problems = sizing_problems(docs, SIZING)
        assert not problems, f"overlays/{env}:\n" + "\n".join(problems)


def test_the_check_catches_the_old_sizes(renderer: Renderer) -> None:
    """The pre-measurement dev overlay (192Mi request, 384Mi limit, heap 75 % of the limit) fails the
    check: the HPA would scale out at 153.6 MiB, below the idle RSS."""
    combo = next(c for c in all_combinations() if c.id == "example-minimal-general")
    docs = kustomize(renderer.render(combo.id, combo.answers) / "deploy" / "k8s" / "overlays" / "dev")
    assert sizing_problems(docs, SIZING) == []
    for doc in docs:
        if doc["kind"] == "Deployment":
            resources = doc["spec"]["template"]["spec"]["containers"][0]["resources"]
            resources["requests"]["memory"], resources["limits"]["memory"] = "192Mi", "384Mi"
        if doc["kind"] == "ConfigMap" and "NODE_OPTIONS" in doc.get("data", {}):
            doc["data"]["NODE_OPTIONS"] = "--max-old-space-size=288"
    problems = "\n".join(sizing_problems(docs, SIZING))
    assert "below the loaded RSS" in problems and "not above the idle RSS" in problems
    assert "exceeds the 384 MiB limit" in problems


def test_the_model_follows_the_measured_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """A heavier image gets a larger request, limit and heap; the numbers obey the rules of sizing.yml."""
    current = delivery_model.sizing()
    assert current["measured"] == MEASURED
    heavier = {**SIZING, "measured": {**MEASURED, "idle_rss_mib": 300, "loaded_rss_mib": 500}}
    monkeypatch.setattr(delivery_model, "load_data", lambda name: heavier if name == "sizing" else {})
    sized = delivery_model.sizing()
    step = SIZING["rules"]["step_mib"]
    target = HPA["memory_target_percent"] / 100
    for figures in (current, sized):
        loaded, idle = figures["measured"]["loaded_rss_mib"], figures["measured"]["idle_rss_mib"]
        request = figures["memory_request_mi"]
        assert request % step == 0
        assert request * target >= loaded * (1 + MARGIN) > (request - step) * target  # the smallest such request
        assert request * target > idle
        assert figures["memory_limit_mi"] == request * SIZING["rules"]["limit_to_request"]
        assert figures["heap_mb"] + idle * (1 + MARGIN) <= figures["memory_limit_mi"]
    assert sized["memory_request_mi"] > current["memory_request_mi"]
    assert sized["heap_mb"] > current["heap_mb"]


def test_sizing_data_is_complete() -> None:
    assert set(SIZING["environments"]) == set(ENVIRONMENTS)
    for key in ("idle_rss_mib", "loaded_rss_mib", "start_to_ready_s"):
        assert float(MEASURED[key]) > 0
    assert MEASURED["idle_rss_mib"] < MEASURED["loaded_rss_mib"]
    assert 0 < MARGIN < 1 and 0 < HPA["memory_target_percent"] <= 100 and 0 < HPA["cpu_target_percent"] <= 100
