#!/usr/bin/env python3
"""Generate a batch of services from one organisation answer file and one answer file per service.

    python scripts/bootstrap_org.py examples/org --output ../services [--template SRC] [--vcs-ref REF] [--git-init]
    python scripts/bootstrap_org.py org.yml svc-a.yml svc-b.yml --output ../services

The organisation file holds what every service shares (registry, cloud, CI, compliance, default
owner, targets) under `answers:`, and under `locked:` the answers no service may change:

    answers: {container_registry: registry.acme.example/payments, cloud: azure, compliance: [gdpr]}
    locked: [container_registry, cloud, compliance]

A service file holds that service's own answers (name, description, owning team, architecture,
bounded contexts, database, ...); they override the organisation's unlocked answers. A directory
argument means `<dir>/org.yml` plus every `<dir>/services/*.yml`.

Nothing is half-written: every service is first rendered by copier into a private staging
directory (copier runs the template's validators there), its answers are checked for names the
template does not ask and for clashing service slugs, and only when every service passed are they
moved to `<output>/<project_slug>/`. Any error leaves the output directory as it was.
Each generated repository records the template and its answers in `.copier-answers.yml`, so
`copier update` (or its scheduled workflow) keeps it in step later.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ANSWERS_FILE = ".copier-answers.yml"


class BootstrapError(Exception):
    """An invalid input; the message names the file and the answer."""


@dataclass(frozen=True)
class Service:
    name: str  # the service file's stem
    source: Path
    answers: dict[str, Any]


def load_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise BootstrapError(f"{path}: cannot read it: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BootstrapError(f"{path}: expected a mapping of answers")
    return data


def load_org(path: Path) -> tuple[dict[str, Any], set[str]]:
    data = load_mapping(path)
    unknown = set(data) - {"answers", "locked"}
    if unknown:
        raise BootstrapError(f"{path}: unknown keys {sorted(unknown)}; expected 'answers' and 'locked'")
    answers = data.get("answers") or {}
    locked = data.get("locked") or []
    if not isinstance(answers, dict) or not isinstance(locked, list):
        raise BootstrapError(f"{path}: 'answers' must be a mapping and 'locked' a list")
    missing = sorted(set(locked) - set(answers))
    if missing:
        raise BootstrapError(f"{path}: locked answers {missing} have no value under 'answers'")
    return answers, set(locked)


def merge(org: Mapping[str, Any], locked: set[str], service: Mapping[str, Any], source: Path) -> dict[str, Any]:
    """The service's answers over the organisation's; a locked answer may only be repeated."""
    clashes = sorted(name for name in locked if name in service and service[name] != org[name])
    if clashes:
        details = ", ".join(f"{name}={service[name]!r} (organisation: {org[name]!r})" for name in clashes)
        raise BootstrapError(f"{source}: the organisation locks {details}")
    private = sorted(name for name in service if str(name).startswith("_"))
    if private:
        raise BootstrapError(f"{source}: {private} are copier settings, not answers")
    return {**org, **service}


def collect(inputs: list[Path]) -> list[Service]:
    """Merge the organisation file with each service file (the first input is the organisation)."""
    if len(inputs) == 1 and inputs[0].is_dir():
        org_file = inputs[0] / "org.yml"
        service_files = sorted((inputs[0] / "services").glob("*.yml"))
    else:
        org_file, service_files = inputs[0], inputs[1:]
    if not service_files:
        raise BootstrapError(f"no service answer files next to {org_file}")
    org, locked = load_org(org_file)
    names = [path.stem for path in service_files]
    if len(set(names)) != len(names):
        raise BootstrapError(f"two service files share a name: {sorted(names)}")
    return [Service(path.stem, path, merge(org, locked, load_mapping(path), path)) for path in service_files]


def service_answers(inputs: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    """(name, merged answers) per service: what the tests render as the organisation's matrix entries."""
    return [(service.name, service.answers) for service in collect(inputs)]


def render(template: str, vcs_ref: str | None, service: Service, destination: Path) -> dict[str, Any]:
    """Render one service with copier; returns the answers copier stored."""
    from copier import run_copy

    try:
        run_copy(template, str(destination), data=service.answers, vcs_ref=vcs_ref, defaults=True,
                 unsafe=True, quiet=True, overwrite=True)
    except Exception as error:  # copier reports invalid answers as ValueError, others as its own errors
        raise BootstrapError(f"{service.source}: {error}") from error
    stored = yaml.safe_load((destination / ANSWERS_FILE).read_text(encoding="utf-8"))
    unknown = sorted(name for name in service.answers if name not in stored)
    if unknown:
        raise BootstrapError(f"{service.source}: the template asks no question named {unknown}")
    return dict(stored)


def git_init(repo: Path) -> None:
    commands = (["init", "-q", "-b", "main"], ["add", "-A"],
                ["commit", "-q", "-m", "Generate from the backend playbook template"])
    for args in commands:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def bootstrap(inputs: list[Path], output: Path, template: str, vcs_ref: str | None,
              init_git: bool = False) -> list[Path]:
    services = collect(inputs)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bootstrap-org-") as tmp:
        staged: list[tuple[Path, str]] = []
        for service in services:
            try:
                stored = render(template, vcs_ref, service, Path(tmp) / service.name)
            except BootstrapError as error:
                errors.append(str(error))
                continue
            staged.append((Path(tmp) / service.name, str(stored["project_slug"])))
        slugs = [slug for _, slug in staged]
        for slug in sorted({s for s in slugs if slugs.count(s) > 1}):
            errors.append(f"several services have the project_slug {slug!r}")
        for _, slug in staged:
            if (output / slug).exists():
                errors.append(f"{output / slug} exists already; bootstrap generates new repositories only")
        if errors:
            raise BootstrapError("nothing was written:\n  " + "\n  ".join(errors))
        output.mkdir(parents=True, exist_ok=True)
        written = []
        for staging, slug in staged:
            shutil.move(str(staging), str(output / slug))
            written.append(output / slug)
    if init_git:
        for repo in written:
            git_init(repo)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("inputs", nargs="+", type=Path,
                        help="an organisation directory, or org.yml followed by service answer files")
    parser.add_argument("--output", "-o", type=Path, required=True, help="where the repositories go")
    parser.add_argument("--template", default=str(REPO),
                        help="template source: a path or a git URL such as gh:your-org/nestjs-playbook-template")
    parser.add_argument("--vcs-ref", default=None, help="template release tag (default: the newest)")
    parser.add_argument("--git-init", action="store_true", help="git init and commit each repository")
    args = parser.parse_args(argv)
    try:
        written = bootstrap(args.inputs, args.output, args.template, args.vcs_ref, args.git_init)
    except BootstrapError as error:
        print(f"bootstrap_org: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
