"""Every fact once (issue 14): the image build contract as the generated files state it.

One Dockerfile builds every image; for microservices it declares a build argument that names the
service's app. The CI files pass that argument and push one image per service, the Kubernetes
manifests deploy those images, and the architecture document and the README name both. Each file
is read as its tool reads it (YAML with yaml.safe_load, matrices expanded, `${{ env.X }}`,
`${{ matrix.X }}` and shell variables resolved) and compared with the others, never with a value
typed here:

- every build argument a CI build passes (`build-args:` of docker/build-push-action, `--build-arg`
  or buildctl's `build-arg:` in a job's script or in a script or npm script it runs) is an `ARG` of
  the Dockerfile, and every build passes each `ARG` that has no default;
- the images each CI job names, pushes or signs are exactly the images the kustomize base deploys;
- the document and the README state the same build argument (and no other) and the same images.

Run on every microservices render of the matrix, the default (modular monolith) render and the
default render with GitLab CI.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import Renderer, answers_of, load_yaml
from matrix import DEFAULT_ANSWERS_ID, Combination, all_combinations

DOC = Path("docs/architecture/DOC006-BackendArchitecture.md")
MICROSERVICES = [c for c in all_combinations() if c.answers.get("architecture") == "microservices"]
CONTRACT = [c for c in all_combinations() if c.id in (DEFAULT_ANSWERS_ID, "ci-gitlab")] + MICROSERVICES
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache",
                   "before_script", "after_script"}

# A build argument in shell text: docker's --build-arg NAME[=VALUE] and buildctl's --opt build-arg:NAME=VALUE.
BUILD_ARG = re.compile(r"--build-arg(?:=|\s+)[\"']?([A-Za-z_]\w*)|\bbuild-arg:([A-Za-z_]\w*)")
# A shell command that builds an image.
BUILD_COMMAND = re.compile(
    r"\b(?:docker(?:\s+buildx)?\s+build|buildctl(?:-daemonless\.sh)?\b.*\sbuild|podman\s+build|kaniko/executor)\b")
# Image references of a build command: --tag/-t/--destination, and BuildKit's image exporter name=a,b.
TAG_OPTION = re.compile(r"(?:--tag|--destination|(?<!\S)-t)(?:=|\s+)[\"']?([^\s\"']+)")
EXPORTER_NAME = re.compile(r"\bname=((?:[^,\"\\\s]+)(?:,[^,\"\\\s=]+)*)")
SIGN_COMMAND = re.compile(r"\bcosign\s+(?:sign|attest)\b")
# A shell assignment at the start of a command: NAME="..." / NAME='...' / NAME=word.
ASSIGNMENT = re.compile(r"(?:^|;|&&|\bthen|\bdo|\belse)\s*([A-Za-z_]\w*)=(\"[^\"]*\"|'[^']*'|[^\s;]*)")
SHELL_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
EXPRESSION = re.compile(r"\$\{\{\s*(env|matrix)\.([\w-]+)\s*\}\}")
NPM_RUN = re.compile(r"\bnpm\s+run\s+([\w:.-]+)")


# ---------------------------------------------------------------------------------------------- helpers


@dataclass
class Build:
    """One image build of a CI job (one matrix entry): the build arguments it passes."""

    where: str
    args: set[str]


@dataclass
class CiFacts:
    builds: list[Build] = field(default_factory=list)
    # Every build argument named anywhere in the CI files or the scripts they run, with where.
    arg_mentions: list[tuple[str, str]] = field(default_factory=list)
    # Job -> the image repositories it names, pushes or signs (tags and digests stripped).
    images: dict[str, set[str]] = field(default_factory=dict)


def repository(reference: str) -> str:
    """An image reference without its digest and tag."""
    name = reference.strip().strip("\"'").split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: len(name) - len(last[-1]) + last[-1].index(":")]
    return name


def dockerfile_args(rendered: Path) -> dict[str, bool]:
    """The Dockerfile's ARG names, each with whether it has a default."""
    text = re.sub(r"\\\n", " ", (rendered / "Dockerfile").read_text(encoding="utf-8"))
    args: dict[str, bool] = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() == "ARG":
            for word in words[1:]:
                name, has_default = word.split("=", 1)[0], "=" in word
                args[name] = args.get(name, False) or has_default
    return args


def deployed_images(rendered: Path) -> set[str]:
    """The image repositories the kustomize base deploys: workload containers and `images:` entries."""
    images: set[str] = set()
    for path in sorted((rendered / "deploy" / "k8s" / "base").rglob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            for doc in yaml.safe_load_all(handle):
                if not isinstance(doc, dict):
                    continue
                if doc.get("kind") == "Kustomization" or path.name == "kustomization.yaml":
                    images.update(repository(i.get("newName") or i["name"]) for i in doc.get("images") or [])
                if doc.get("kind") in WORKLOAD_KINDS:
                    spec = doc["spec"]
                    if doc["kind"] == "CronJob":
                        spec = spec["jobTemplate"]["spec"]
                    pod = spec["template"]["spec"]
                    for container in (pod.get("initContainers") or []) + pod["containers"]:
                        images.add(repository(container["image"]))
    return images


def shell_expand(text: str, variables: dict[str, str]) -> str:
    """$NAME and ${NAME} replaced where the variable is known; anything else is left as written."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables[name] if name in variables else match.group(0)
    for _ in range(5):
        expanded = SHELL_VARIABLE.sub(value, text)
        if expanded == text:
            break
        text = expanded
    return text


def referenced_scripts(rendered: Path, text: str, seen: set[str]) -> Iterator[tuple[str, str]]:
    """The npm scripts (`npm run x`) and repository files (`bash deploy/k8s/check.sh`) a command runs,
    and what those run in turn, as (name, text)."""
    package = rendered / "package.json"
    scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts", {}) if package.is_file() else {}
    for name in NPM_RUN.findall(text):
        key = f"npm run {name}"
        if name in scripts and key not in seen:
            seen.add(key)
            yield key, scripts[name]
            yield from referenced_scripts(rendered, scripts[name], seen)
    for token in re.findall(r"[\w./-]+\.(?:sh|bash|py|mjs|cjs|js)\b", text):
        path = rendered / token.removeprefix("./")
        if token not in seen and path.is_file():
            seen.add(token)
            content = path.read_text(encoding="utf-8")
            yield token, content
            yield from referenced_scripts(rendered, content, seen)


def shell_commands(text: str) -> list[str]:
    """Commands of a script, with backslash-continued lines joined."""
    return [line for line in re.sub(r"\\\n\s*", " ", text).splitlines() if line.strip()]


def scan_shell(facts: CiFacts, job: str, where: str, text: str, variables: dict[str, str],
               rendered: Path) -> None:
    """Build arguments, builds and image references of a shell script (a job's script or a `run:`)."""
    variables = dict(variables)
    images = facts.images.setdefault(job, set())
    for command in shell_commands(text):
        for name, raw in ASSIGNMENT.findall(command):
            variables[name] = shell_expand(raw.strip("\"'"), variables)
        expanded = shell_expand(command, variables)
        args = {a or b for a, b in BUILD_ARG.findall(expanded)}
        facts.arg_mentions.extend((name, job) for name in args)
        if BUILD_COMMAND.search(expanded):
            facts.builds.append(Build(f"{where}: {command.strip()[:80]}", args))
            references = TAG_OPTION.findall(expanded)
            for names in EXPORTER_NAME.findall(expanded):
                references.extend(names.split(","))
            images.update(repository(r) for r in references)
        if SIGN_COMMAND.search(expanded):
            positional = [w for w in shlex.split(expanded.split("cosign", 1)[1])[1:] if not w.startswith("-")]
            images.add(repository(positional[-1]))
    seen: set[str] = set()
    for name, content in referenced_scripts(rendered, text, seen):
        facts.arg_mentions.extend((a or b, f"{job} -> {name}") for a, b in BUILD_ARG.findall(content))


# ---------------------------------------------------------------------------------------------- GitHub


def github_expand(value: Any, env: dict[str, str], matrix: dict[str, Any]) -> str:
    text = str(value)
    for _ in range(5):
        def value_of(match: re.Match[str]) -> str:
            source = env if match.group(1) == "env" else matrix
            return str(source[match.group(2)]) if match.group(2) in source else match.group(0)
        expanded = EXPRESSION.sub(value_of, text)
        if expanded == text:
            break
        text = expanded
    return text


def github_matrix(job: dict[str, Any]) -> list[dict[str, Any]]:
    matrix = (job.get("strategy") or {}).get("matrix")
    if not matrix:
        return [{}]
    assert isinstance(matrix, dict), f"matrix {matrix!r} is an expression this test cannot expand"
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    include = matrix.get("include") or []
    assert not (axes and include) and "exclude" not in matrix, "matrix with axes and include: not expanded here"
    if include:
        return list(include)
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def image_list(value: str) -> list[str]:
    """docker/metadata-action `images:` (or build-push-action `tags:`): one entry per line or comma,
    each a reference or `name=<reference>,enable=...`."""
    references = []
    for line in value.splitlines():
        line = line.strip()
        if not line:
            continue
        if "name=" in line:
            references.extend(part.split("=", 1)[1] for part in line.split(",") if part.startswith("name="))
        else:
            references.extend(part.strip() for part in line.split(",") if part.strip())
    return references


def github_facts(rendered: Path) -> CiFacts:
    facts = CiFacts()
    for path in sorted((rendered / ".github" / "workflows").glob("*.yml")):
        workflow = load_yaml(path)
        for job_id, job in (workflow.get("jobs") or {}).items():
            label = f"{path.name} {job_id}"
            for entry in github_matrix(job):
                where = f"{label} {entry}" if entry else label
                env = {k: str(v) for k, v in (workflow.get("env") or {}).items()}
                env.update({k: github_expand(v, env, entry) for k, v in (job.get("env") or {}).items()})
                images = facts.images.setdefault(label, set())
                for step in job.get("steps") or []:
                    step_env = {**env, **{k: github_expand(v, env, entry) for k, v in (step.get("env") or {}).items()}}
                    uses, inputs = str(step.get("uses", "")), step.get("with") or {}
                    if uses.startswith("docker/build-push-action@"):
                        args = {line.split("=", 1)[0].strip()
                                for line in str(inputs.get("build-args", "")).splitlines() if line.strip()}
                        facts.builds.append(Build(f"{where}: {step.get('name', uses)}", args))
                        facts.arg_mentions.extend((name, label) for name in args)
                        tags = github_expand(inputs.get("tags", ""), step_env, entry)
                        images.update(repository(r) for r in image_list(tags) if "${{ steps." not in r)
                    if uses.startswith("docker/metadata-action@"):
                        names = github_expand(inputs.get("images", ""), step_env, entry)
                        images.update(repository(r) for r in image_list(names))
                    if "run" in step:
                        scan_shell(facts, label, where, github_expand(step["run"], step_env, entry), step_env, rendered)
            if not facts.images.get(label):
                facts.images.pop(label, None)
    return facts


# ---------------------------------------------------------------------------------------------- GitLab


def gitlab_resolve(pipeline: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """A job with its `extends` merged in (hidden jobs in order, then the job; hashes merge deeply)."""
    def merge(into: dict[str, Any], other: dict[str, Any]) -> None:
        for key, value in other.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                into[key] = dict(into[key])
                merge(into[key], value)
            else:
                into[key] = value
    merged: dict[str, Any] = {}
    parents = job.get("extends", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        merge(merged, gitlab_resolve(pipeline, pipeline[parent]))
    merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return merged


def gitlab_matrix(job: dict[str, Any]) -> list[dict[str, str]]:
    parallel = job.get("parallel")
    if not isinstance(parallel, dict):
        return [{}]
    entries = []
    for item in parallel["matrix"]:
        axes = {k: v if isinstance(v, list) else [v] for k, v in item.items()}
        entries.extend(dict(zip(axes, map(str, values), strict=True)) for values in itertools.product(*axes.values()))
    return entries


def variable_values(variables: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(v["value"] if isinstance(v, dict) else v) for k, v in (variables or {}).items()}


def script_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(script_text(v) for v in value)
    return str(value)


def gitlab_facts(rendered: Path) -> CiFacts:
    facts = CiFacts()
    pipeline = dict(load_yaml(rendered / ".gitlab-ci.yml"))
    includes = pipeline.get("include") or []
    for include in includes if isinstance(includes, list) else [includes]:
        if isinstance(include, dict) and "local" in include:
            pipeline.update(load_yaml(rendered / include["local"].lstrip("/")))
    global_variables = variable_values(pipeline.get("variables"))
    for job_id, raw in pipeline.items():
        if job_id in GITLAB_KEYWORDS or job_id.startswith(".") or not isinstance(raw, dict):
            continue
        job = gitlab_resolve(pipeline, raw)
        text = "\n".join(script_text(job.get(k)) for k in ("before_script", "script", "after_script"))
        for entry in gitlab_matrix(job):
            variables = {**global_variables, **variable_values(job.get("variables")), **entry}
            where = f".gitlab-ci.yml {job_id} {entry}" if entry else f".gitlab-ci.yml {job_id}"
            scan_shell(facts, f".gitlab-ci.yml {job_id}", where, text, variables, rendered)
        if not facts.images.get(f".gitlab-ci.yml {job_id}"):
            facts.images.pop(f".gitlab-ci.yml {job_id}", None)
    return facts


def ci_facts(rendered: Path) -> CiFacts:
    ci = answers_of(rendered)["ci"]
    if ci == "github":
        return github_facts(rendered)
    if ci == "gitlab":
        return gitlab_facts(rendered)
    return CiFacts()


def documented_build_args(text: str) -> set[str]:
    return {a or b for a, b in BUILD_ARG.findall(text)}


def documented_images(text: str, registry: str) -> set[str]:
    """Every image reference under the answered registry that a text names (tags and digests stripped)."""
    found = re.findall(re.escape(registry) + r"/[A-Za-z0-9._/<>|-]*[A-Za-z0-9_>-]", text)
    return {repository(reference) for reference in found}


# ---------------------------------------------------------------------------------------------- tests


@pytest.fixture(params=CONTRACT, ids=[c.id for c in CONTRACT])
def contract_render(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    combination: Combination = request.param
    return renderer.render(combination.id, combination.answers)


def test_the_contract_covers_both_ci_systems_for_microservices() -> None:
    ci_systems = {c.answers.get("ci", "github") for c in MICROSERVICES}
    assert {"github", "gitlab"} <= ci_systems, f"microservices renders only use {ci_systems}"


def test_ci_build_arguments_are_dockerfile_args(contract_render: Path) -> None:
    rendered = contract_render
    args = dockerfile_args(rendered)
    required = {name for name, has_default in args.items() if not has_default}
    facts = ci_facts(rendered)
    if answers_of(rendered)["ci"] != "none":
        assert facts.builds, "no image build found in the CI files"
    unknown = sorted({f"{name} ({where})" for name, where in facts.arg_mentions if name not in args})
    assert not unknown, f"build arguments the Dockerfile does not declare (its ARGs: {sorted(args)}): {unknown}"
    for build in facts.builds:
        assert required <= build.args, (
            f"{build.where} passes {sorted(build.args)}, the Dockerfile needs {sorted(required)}")


def test_ci_images_are_the_images_kubernetes_deploys(contract_render: Path) -> None:
    rendered = contract_render
    deployed = deployed_images(rendered)
    assert deployed, "the kustomize base deploys no image"
    facts = ci_facts(rendered)
    if answers_of(rendered)["ci"] != "none":
        assert facts.images, "no CI job names an image"
    for job, images in facts.images.items():
        unresolved = sorted(i for i in images if "$" in i)
        assert not unresolved, f"{job}: image names this test cannot resolve: {unresolved}"
        assert images == deployed, (
            f"{job} builds, pushes or signs {sorted(images)}; the Kubernetes manifests deploy {sorted(deployed)}")


def test_document_states_the_build_argument(contract_render: Path) -> None:
    rendered = contract_render
    text = (rendered / DOC).read_text(encoding="utf-8")
    args = dockerfile_args(rendered)
    required = {name for name, has_default in args.items() if not has_default}
    stated = documented_build_args(text)
    assert stated <= set(args), f"the document names build arguments {sorted(stated)}; the Dockerfile's: {sorted(args)}"
    assert required <= stated, f"the document does not state the build argument(s) {sorted(required - stated)}"


def test_document_states_the_images(contract_render: Path) -> None:
    rendered = contract_render
    text = (rendered / DOC).read_text(encoding="utf-8")
    deployed = deployed_images(rendered)
    images = documented_images(text, answers_of(rendered)["container_registry"])
    assert images == deployed, (
        f"the document names the images {sorted(images)}; the Kubernetes manifests deploy {sorted(deployed)}")


def test_readme_states_the_images(contract_render: Path) -> None:
    rendered = contract_render
    text = (rendered / "README.md").read_text(encoding="utf-8")
    stated = documented_build_args(text)
    args = dockerfile_args(rendered)
    assert stated <= set(args), f"the README names build arguments {sorted(stated)}; the Dockerfile's: {sorted(args)}"
    deployed = deployed_images(rendered)
    images = documented_images(text, answers_of(rendered)["container_registry"])
    assert images == deployed, (
        f"the README names the images {sorted(images)}; the Kubernetes manifests deploy {sorted(deployed)}")
