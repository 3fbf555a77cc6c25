"""Monitoring that loads and fires, on every render of the matrix.

- Loads: every overlay's ServiceMonitors and PrometheusRule carry the labels the model names for
  the cluster's Prometheus selectors (kube-prometheus-stack's default: release=<Helm release>).
- Fires: Prometheus' own promtool checks the rendered rules (`promtool check rules`, on compose's
  alerts.yml and on the PrometheusRule of each overlay) and runs unit tests (`promtool test rules`)
  in which MetricsTargetDown fires for a target that is down and for a job with no series at all,
  and stays silent for a healthy target and before its `for:`. The same unit tests run against the
  rule without its absent() clause must fail, so they tell the two apart.
- Environments do not mix: the Grafana dashboard has a single-value `namespace` variable and every
  panel query filters on it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from helpers import answers_of, load_yaml, run, tool

from extensions.playbook import delivery as delivery_model
from extensions.playbook import model

ENVIRONMENTS = delivery_model.ENVIRONMENTS
ALERT = "MetricsTargetDown"


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    result = run([tool("kubectl"), "kustomize", str(overlay)])
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def target_down_rules(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """MetricsTargetDown of each group, by the service it watches."""
    rules = {}
    for group in groups:
        for rule in group["rules"]:
            if rule.get("alert") == ALERT:
                rules[rule["labels"]["service"]] = rule
    return rules


def unit_tests(rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """promtool unit tests of MetricsTargetDown for each service (1-minute steps; `for: 5m`)."""
    tests: list[dict[str, Any]] = []
    for service, rule in rules.items():
        fired = {**rule["labels"], "job": service}
        annotations = rule.get("annotations", {})
        instance = {"job": service, "instance": "10.0.0.7:3000", "namespace": "shop-prod"}
        series = "up{" + ",".join(f'{key}="{value}"' for key, value in instance.items()) + "}"
        # Every other service's target (and an unrelated job) is up, so only this service's rule can fire.
        others = [{"series": f'up{{job="{name}",instance="10.0.0.8:3000",namespace="shop-prod"}}', "values": "1x20"}
                  for name in rules if name != service]
        others.append({"series": 'up{job="some-other-job",instance="10.0.0.9:3000"}', "values": "1x20"})
        tests += [
            {   # no series of the job at all: absent() fires once `for` has passed
                "interval": "1m",
                "input_series": others,
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": ALERT, "exp_alerts": []},
                    {"eval_time": "10m", "alertname": ALERT,
                     "exp_alerts": [{"exp_labels": fired, "exp_annotations": annotations}]},
                ],
            },
            {   # the target is scraped but down: up == 0 fires with the target's labels
                "interval": "1m",
                "input_series": [{"series": series, "values": "0x20"}, *others],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": ALERT,
                     "exp_alerts": [{"exp_labels": {**rule["labels"], **instance}, "exp_annotations": annotations}]},
                ],
            },
            {   # a healthy target: silent
                "interval": "1m",
                "input_series": [{"series": series, "values": "1x20"}, *others],
                "alert_rule_test": [{"eval_time": "10m", "alertname": ALERT, "exp_alerts": []}],
            },
        ]
    return tests


def promtool_test(directory: Path, groups: list[dict[str, Any]], rules: dict[str, dict[str, Any]]) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": unit_tests(rules)}
    (directory / "tests.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return run([tool("promtool"), "test", "rules", "tests.yml"], cwd=directory)


def test_monitoring_objects_carry_the_prometheus_selector_labels(rendered: Path) -> None:
    labels = model.build(answers_of(rendered)).delivery["prometheus_selector_labels"]
    assert labels, "the model names no selector label"
    for env in ENVIRONMENTS:
        docs = kustomize(rendered / "deploy" / "k8s" / "overlays" / env)
        monitoring = [d for d in docs if d["kind"] in ("ServiceMonitor", "PrometheusRule")]
        assert {d["kind"] for d in monitoring} == {"ServiceMonitor", "PrometheusRule"}
        for doc in monitoring:
            carried = doc["metadata"].get("labels", {})
            missing = {key: value for key, value in labels.items() if carried.get(key) != value}
            assert not missing, f"overlays/{env}: {doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        # The other objects do not: the label means "this is for Prometheus".
        others = [d for d in docs if d["kind"] not in ("ServiceMonitor", "PrometheusRule")]
        assert all(not set(labels) & set(d["metadata"].get("labels", {})) for d in others)


def test_promtool_checks_the_rules_of_compose_and_every_overlay(rendered: Path, tmp_path: Path) -> None:
    files = [rendered / "observability" / "prometheus" / "alerts.yml"]
    for env in ENVIRONMENTS:
        docs = kustomize(rendered / "deploy" / "k8s" / "overlays" / env)
        (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
        path = tmp_path / f"{env}-rules.yml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False), encoding="utf-8")
        files.append(path)
    result = run([tool("promtool"), "check", "rules", *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_metrics_target_down_fires_for_a_down_or_absent_target(rendered: Path, tmp_path: Path) -> None:
    groups = load_yaml(rendered / "observability" / "prometheus" / "alerts.yml")["groups"]
    rules = target_down_rules(groups)
    services = [s["name"] for s in model.build(answers_of(rendered)).delivery["services"]]
    assert sorted(rules) == sorted(services)
    for service, rule in rules.items():
        assert f'absent(up{{job="{service}"}})' in rule["expr"]
    result = promtool_test(tmp_path / "rules", groups, rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout

    # Without its absent() clause the rule misses the vanished job, and the same tests say so.
    stripped = copy.deepcopy(groups)
    for rule in target_down_rules(stripped).values():
        rule["expr"] = rule["expr"].split("\nor\n")[0].strip()
        assert "absent" not in rule["expr"] and "== 0" in rule["expr"]
    result = promtool_test(tmp_path / "stripped", stripped, target_down_rules(stripped))
    assert result.returncode != 0
    # exactly the absent-job cases fail (one per service): nothing fired where an alert was expected
    report = result.stdout + result.stderr
    assert report.count("got:[]") == len(rules), report


def test_dashboard_shows_one_namespace_at_a_time(rendered: Path) -> None:
    (path,) = (rendered / "observability" / "grafana" / "dashboards").glob("*.json")
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    namespace = variables["namespace"]
    assert namespace["type"] == "query" and namespace["multi"] is False and namespace["includeAll"] is False
    assert "namespace)" in namespace["query"]["query"]
    assert 'namespace="$namespace"' in variables["service"]["query"]["query"]
    targets = [target for panel in dashboard["panels"] for target in panel["targets"]]
    assert targets
    unfiltered = [target["expr"] for target in targets if 'namespace="$namespace"' not in target["expr"]]
    assert not unfiltered, f"panel queries without the namespace filter: {unfiltered}"

    # compose's Prometheus labels its targets with a namespace, so the variable has a value locally.
    local = model.build(answers_of(rendered)).delivery["local_namespace"]
    prometheus = load_yaml(rendered / "observability" / "prometheus" / "prometheus.yml")
    services = {s["name"] for s in model.build(answers_of(rendered)).delivery["services"]}
    for job in prometheus["scrape_configs"]:
        if job["job_name"] in services:
            assert job["static_configs"][0]["labels"]["namespace"] == local
