"""`copier update` keeps what the team wrote, and the organisation example set bootstraps in one run.

The update tests build their own git repository of this template with two release tags:
OLD is today's tree with deliberate differences (an older sentence in the architecture document,
an older Node.js pin, one ADR fewer, the coverage question under its old name, older overlay and
module scaffolds); NEW is today's tree. A service is copied at OLD, committed, edited the way a
team edits it, committed, and updated to NEW; the result is compared file by file with a fresh
copy at NEW. Every copier call is the real CLI in a subprocess, with its own git configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock
from helpers import EXAMPLES, REPO, TEMPLATE_PARTS, files, load_yaml, run, tool
from packaging.version import Version
from pathspec import PathSpec

from extensions.playbook import adrs, layout, model
from extensions.playbook.data import stack_manifest

PARTS = (*TEMPLATE_PARTS, "migrations")
OLD = "0.9.0"
EPOCH = "1767225600"  # 2026-01-01: ADR dates and anything else dated are reproducible
LATER_EPOCH = "1769904000"  # 2026-02-01: the update runs a month after the copy
DOC = Path("docs/architecture/DOC006-BackendArchitecture.md")
ADR_DIR = Path("docs/adr")
OLD_SENTENCE = "This sentence is the older playbook's wording; the newer release replaces it."
OLD_NAME, NEW_NAME = "min_coverage", "coverage_threshold"
COVERAGE = 73
OVERLAY_HEADER = "# Overlay as the older template release wrote it.\n"
MODULE_HEADER = "// Module scaffold as the older template release wrote it.\n"
CONFLICT_ANY = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.M)
# The template folders of the domain modules (every module, and the modules' integration-event code).
MODULE_DIRS = ("{% yield m from modules %}{{ m.path }}{% endyield %}",
               "{% yield m from broker_modules %}{{ m.path }}{% endyield %}")
BASE_ANSWERS: dict[str, Any] = {"project_name": "Ledger Service", "bounded_contexts": ["accounts", "payments"]}


# --------------------------------------------------------------------------- helpers


def release_version() -> str:
    """The newest version in CHANGELOG.md: what the next release tag will be."""
    match = re.search(r"^## \[([^\]]+)\]", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert match, "CHANGELOG.md has no '## [version]' entry"
    return match.group(1)


def copier_yml() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(REPO / "copier.yml")
    return data


def team_owned_patterns() -> list[str]:
    return list(copier_yml()["_skip_if_exists"])


def team_owned_spec() -> PathSpec:
    return PathSpec.from_lines("gitignore", team_owned_patterns())


def is_team_owned(relpath: str) -> bool:
    return bool(team_owned_spec().match_file(relpath))


@dataclass
class Env:
    """Environment of every git and copier call: an isolated git identity and copier settings."""

    base: Path
    vars: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        gitconfig = self.base / "gitconfig"
        gitconfig.write_text(
            "[user]\n\tname = Test Team\n\temail = team@example.com\n[init]\n\tdefaultBranch = main\n"
            "[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n[merge]\n\tconflictStyle = merge\n",
            encoding="utf-8",
        )
        self.vars = {
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "COPIER_SETTINGS_PATH": str(self.base / "copier-settings.yml"),
            "SOURCE_DATE_EPOCH": EPOCH,
            "NO_COLOR": "1",
        }

    def git(self, cwd: Path, *args: str) -> str:
        result = run(["git", *args], cwd=cwd, env=self.vars)
        assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def copier(self, cwd: Path, *args: str, epoch: str = EPOCH) -> subprocess.CompletedProcess[str]:
        return run([tool("copier"), *args], cwd=cwd, env={**self.vars, "SOURCE_DATE_EPOCH": epoch})

    def commit_all(self, repo: Path, message: str) -> None:
        # --force: template/.gitignore (the generated repository's) would hide template/.env.example.jinja
        self.git(repo, "add", "-A", "--force")
        self.git(repo, "commit", "-q", "-m", message)


def copy_parts(destination: Path) -> None:
    destination.mkdir(parents=True)
    for part in PARTS:
        origin = REPO / part
        if origin.is_dir():
            shutil.copytree(origin, destination / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif origin.exists():
            shutil.copy2(origin, destination / part)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in files(root)}


def conflict_problems(root: Path) -> list[str]:
    """Conflict markers and .rej files anywhere in a generated repository."""
    problems = []
    for path in files(root):
        if path.suffix == ".rej":
            problems.append(f"{path.relative_to(root)}: rejected hunk file")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if CONFLICT_ANY.search(text):
            problems.append(f"{path.relative_to(root)}: conflict markers")
    return problems


def static_doc_line(doc_text: str, sources: list[Path]) -> tuple[Path, str]:
    """A line of plain playbook text, in the first half of the rendered document, that occurs exactly
    once there and in exactly one template source: the line the older release words differently."""
    lines = doc_text.splitlines()
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    texts = {source: source.read_text(encoding="utf-8").splitlines() for source in sources}
    for line in lines[: len(lines) // 2]:
        if len(line) < 60 or counts[line] != 1 or re.search(r"[{}%#|`<>]", line) or not line[0].isalpha():
            continue
        holders = [source for source, source_lines in texts.items() if line in source_lines]
        if len(holders) == 1 and texts[holders[0]].count(line) == 1:
            return holders[0], line
    raise AssertionError("the architecture document has no static line of playbook text to vary")


def older_version(version: str) -> str:
    major, minor, patch = (int(part) for part in version.split("."))
    return f"{major}.{minor}.{patch - 1}" if patch else f"{major}.{minor - 1}.0"


# --------------------------------------------------------------------------- the two releases


@dataclass(frozen=True)
class Releases:
    repo: Path
    new: str
    answers: dict[str, Any]  # the full answers of the service, as NEW stores them
    fresh: Path  # a copy at NEW: what an update must converge to
    new_line: str  # playbook text in NEW's document that OLD words as OLD_SENTENCE
    old_pin: str
    new_pin: str
    added_adr: str  # the file name of the record NEW adds


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(tmp_path_factory.mktemp("update-env"))


def older_release(repo: Path, doc_source: Path, new_line: str, pin: tuple[str, str], dropped_adr: str) -> None:
    """Turn the working tree of `repo` (today's template) into the older release OLD."""
    source = doc_source.read_text(encoding="utf-8")
    doc_source.write_text(source.replace(new_line, OLD_SENTENCE, 1), encoding="utf-8")
    stack = repo / "extensions" / "data" / "stack.yml"
    stack.write_text(stack.read_text(encoding="utf-8").replace(pin[1], pin[0]), encoding="utf-8")
    catalogue = repo / "extensions" / "data" / "adrs.yml"
    records = yaml.safe_load(catalogue.read_text(encoding="utf-8"))
    records["records"] = [record for record in records["records"] if record["key"] != dropped_adr]
    catalogue.write_text(yaml.safe_dump(records, sort_keys=False), encoding="utf-8")
    rename = re.compile(rf"\b{NEW_NAME}\b")
    for part in ("copier.yml", "extensions", "template", "includes"):
        root = repo / part
        for path in [root] if root.is_file() else files(root):
            text = path.read_text(encoding="utf-8")
            if rename.search(text):
                path.write_text(rename.sub(OLD_NAME, text), encoding="utf-8")
    # The header goes in as a Jinja expression, so a leading `{#- ... -#}` cannot strip its newline.
    for path in files(repo / "template" / "deploy" / "k8s" / "overlays", ".jinja"):
        path.write_text(f"{{{{ {json.dumps(OVERLAY_HEADER)} }}}}" + path.read_text(encoding="utf-8"), encoding="utf-8")
    for path in [path for folder in MODULE_DIRS for path in files(repo / "template" / folder, ".ts.jinja")]:
        path.write_text(f"{{{{ {json.dumps(MODULE_HEADER)} }}}}" + path.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A directory every xdist worker sees: the expensive fixtures below are built there once."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if worker_id != "master" else base) / "update-shared"
    path.mkdir(exist_ok=True)
    return path


def build_once(shared: Path, name: str, build: Any) -> dict[str, Any]:
    """Run build(directory) once per session (across workers); returns the JSON it produced."""
    marker = shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not marker.exists():
            directory = shared / name
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            marker.write_text(json.dumps(build(directory)), encoding="utf-8")
    data: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    return data


def build_releases(env: Env, base: Path) -> dict[str, Any]:
    repo = base / "template"
    copy_parts(repo)
    new = release_version()
    env.git(repo, "init", "-q")
    env.commit_all(repo, f"Release {new}")
    env.git(repo, "tag", new)

    fresh = base / "fresh"  # dated like the update, so a record the update adds compares equal
    result = env.copier(base, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", new,
                        *data_args({**BASE_ANSWERS, NEW_NAME: COVERAGE}), str(repo), str(fresh), epoch=LATER_EPOCH)
    assert result.returncode == 0, result.stderr[-4000:]
    answers = {k: v for k, v in load_yaml(fresh / ".copier-answers.yml").items() if not k.startswith("_")}

    sources = [repo / "template" / f"{DOC}.jinja", *sorted((repo / "includes" / "doc").glob("*.jinja"))]
    doc_source, new_line = static_doc_line((fresh / DOC).read_text(encoding="utf-8"), sources)
    new_pin = str(stack_manifest()["node"][str(answers["node_version"])]["version"])
    old_pin = older_version(new_pin)
    assert old_pin not in (repo / "extensions" / "data" / "stack.yml").read_text(encoding="utf-8")
    records = model.build(answers).adrs

    env.git(repo, "checkout", "-q", "-b", "older")
    older_release(repo, doc_source, new_line, (old_pin, new_pin), records[-1]["key"])
    env.commit_all(repo, f"Release {OLD}")
    env.git(repo, "tag", OLD)
    env.git(repo, "checkout", "-q", "main")
    return {"repo": str(repo), "new": new, "answers": answers, "fresh": str(fresh), "new_line": new_line,
            "old_pin": old_pin, "new_pin": new_pin, "added_adr": records[-1]["file"]}


@pytest.fixture(scope="session")
def releases(env: Env, shared: Path) -> Releases:
    data = build_once(shared, "releases", lambda base: build_releases(env, base))
    return Releases(Path(data["repo"]), data["new"], data["answers"], Path(data["fresh"]), data["new_line"],
                    data["old_pin"], data["new_pin"], data["added_adr"])


def data_args(answers: dict[str, Any]) -> list[str]:
    """`--data name=value` for each answer; a non-string value as JSON, which copier reads as YAML."""
    args = []
    for name, value in answers.items():
        args += ["--data", f"{name}={value if isinstance(value, str) else json.dumps(value)}"]
    return args


def copy_old_release(env: Env, releases: Releases, destination: Path, **extra: Any) -> Path:
    """A service generated at OLD with the coverage answer under its old name, committed."""
    answers = {**BASE_ANSWERS, OLD_NAME: COVERAGE, **extra}
    result = env.copier(destination.parent, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", OLD,
                        *data_args(answers), str(releases.repo), str(destination))
    assert result.returncode == 0, result.stderr[-4000:]
    stored = load_yaml(destination / ".copier-answers.yml")
    assert stored[OLD_NAME] == COVERAGE and NEW_NAME not in stored and stored["_commit"] == OLD
    env.git(destination, "init", "-q")
    env.commit_all(destination, "Generate from the template")
    return destination


# --------------------------------------------------------------------------- the team's edits


TEAM_PARAGRAPH = (
    "Team note: the ledger team runs the nightly reconciliation at 02:00 UTC and owns its alert.\n"
    "It is written by the team, not by the template, and no update may lose it.\n"
)
TEAM_ADR = """---
status: "accepted"
date: 2026-01-15
decision-makers: [ledger-team]
---

# Reconcile nightly against the bank statements

## Context and Problem Statement

Statements arrive once a day; the team reconciles after they arrive.

## Decision Outcome

Chosen option: "a nightly job", because the bank publishes once a day.
"""
OVERLAY_EDIT = "# Team: prod runs two extra replicas during the sales season (see runbook).\n"
MODULE_EDIT = "\nexport const TEAM_RULE = 'an account balance never goes below zero';\n"
GITIGNORE_EDIT = "# team additions\n/reports/\n"
TEAM_ROW = "Reconcile nightly | accepted | 2026-01-15 |"


@dataclass
class TeamEdits:
    """What the team changed, and the exact bytes each team-owned file had after the change."""

    doc_anchor: str  # the heading the team's paragraph sits above
    team_adr: str
    overlay: str
    module_file: str
    team_owned_before: dict[str, bytes]


def make_team_edits(env: Env, project: Path, answers: dict[str, Any]) -> TeamEdits:
    doc = project / DOC
    text = doc.read_text(encoding="utf-8")
    anchor = [line for line in text.splitlines() if line.startswith("## ")][-1]
    doc.write_text(text.replace(f"\n{anchor}\n", f"\n{TEAM_PARAGRAPH}\n{anchor}\n", 1), encoding="utf-8")

    team_adr = ADR_DIR / f"{adrs.TEAM_ADR_FIRST:04d}-reconcile-nightly.md"
    (project / team_adr).write_text(TEAM_ADR, encoding="utf-8")
    index = project / ADR_DIR / "README.md"
    with index.open("a", encoding="utf-8") as handle:
        handle.write(f"| [{adrs.TEAM_ADR_FIRST:04d}]({team_adr.name}) | {TEAM_ROW}\n")

    overlays = sorted(p for p in (project / "deploy" / "k8s" / "overlays").rglob("*") if p.is_file())
    assert overlays, "the service has no Kubernetes overlay to edit"
    overlay = overlays[-1]
    overlay.write_text(overlay.read_text(encoding="utf-8") + OVERLAY_EDIT, encoding="utf-8")

    module = model.build(answers).modules[0]
    module_files = sorted((project / module["path"]).rglob("*.ts"))
    assert module_files, f"the domain module {module['path']} has no source file"
    module_file = next((p for p in module_files if p.name.endswith(".service.ts")), module_files[0])
    module_file.write_text(module_file.read_text(encoding="utf-8") + MODULE_EDIT, encoding="utf-8")

    with (project / ".gitignore").open("a", encoding="utf-8") as handle:
        handle.write(GITIGNORE_EDIT)
    env.commit_all(project, "Team edits")
    before = {rel: data for rel, data in snapshot(project).items() if is_team_owned(rel)}
    return TeamEdits(anchor, str(team_adr), str(overlay.relative_to(project)), str(module_file.relative_to(project)),
                     before)


def update(env: Env, project: Path, *args: str, epoch: str = EPOCH) -> subprocess.CompletedProcess[str]:
    return env.copier(project, "update", "--trust", "--defaults", *args, epoch=epoch)


# --------------------------------------------------------------------------- acceptance: the team's work survives


def build_updated(env: Env, releases: Releases, base: Path) -> dict[str, Any]:
    project = copy_old_release(env, releases, base / "ledger-service")
    old_answers = load_yaml(project / ".copier-answers.yml")
    old_answers[NEW_NAME] = old_answers.pop(OLD_NAME)
    edits = make_team_edits(env, project, {k: v for k, v in old_answers.items() if not k.startswith("_")})
    shutil.copytree(project, base / "before-update", ignore=shutil.ignore_patterns(".git"))
    result = update(env, project, "--skip-answered", epoch=LATER_EPOCH)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return {"project": str(project), "before": str(base / "before-update"), "doc_anchor": edits.doc_anchor,
            "team_adr": edits.team_adr, "overlay": edits.overlay, "module_file": edits.module_file}


@pytest.fixture(scope="session")
def updated(env: Env, releases: Releases, shared: Path) -> tuple[Path, TeamEdits]:
    """A service copied at OLD, edited by the team, updated to NEW the way the scheduled workflow
    does it (`--defaults --skip-answered`), a month later."""
    data = build_once(shared, "updated", lambda base: build_updated(env, releases, base))
    before = {rel: blob for rel, blob in snapshot(Path(data["before"])).items() if is_team_owned(rel)}
    edits = TeamEdits(data["doc_anchor"], data["team_adr"], data["overlay"], data["module_file"], before)
    return Path(data["project"]), edits


def test_update_reaches_the_new_release_without_conflicts(updated: tuple[Path, TeamEdits],
                                                          releases: Releases) -> None:
    project, _ = updated
    assert conflict_problems(project) == []
    assert load_yaml(project / ".copier-answers.yml")["_commit"] == releases.new
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert f"template {releases.new}" in readme
    assert f"playbook {stack_manifest()['playbook']['version']}" in readme
    doc = (project / DOC).read_text(encoding="utf-8").splitlines()
    assert any(releases.new in line and "emplate" in line for line in doc), "the document names the template release"


def test_update_keeps_every_team_owned_file_byte_for_byte(updated: tuple[Path, TeamEdits]) -> None:
    project, edits = updated
    after = snapshot(project)
    lost = sorted(rel for rel in edits.team_owned_before if rel not in after)
    changed = sorted(rel for rel, data in edits.team_owned_before.items() if after.get(rel, data) != data)
    assert not lost and not changed, f"deleted: {lost}; rewritten: {changed}"
    assert (project / edits.team_adr).read_text(encoding="utf-8") == TEAM_ADR
    assert (project / edits.overlay).read_text(encoding="utf-8").endswith(OVERLAY_EDIT)
    assert (project / edits.overlay).read_text(encoding="utf-8").startswith(OVERLAY_HEADER), \
        "the team's overlay must stay as the older release wrote it, not take the newer scaffold"
    assert (project / edits.module_file).read_text(encoding="utf-8").endswith(MODULE_EDIT)


def test_update_merges_the_team_paragraph_into_the_new_document(updated: tuple[Path, TeamEdits],
                                                                releases: Releases) -> None:
    project, edits = updated
    doc = (project / DOC).read_text(encoding="utf-8")
    assert TEAM_PARAGRAPH in doc
    assert releases.new_line in doc.splitlines(), "the newer playbook text did not arrive"
    assert OLD_SENTENCE not in doc
    fresh = (releases.fresh / DOC).read_text(encoding="utf-8")
    expected = fresh.replace(f"\n{edits.doc_anchor}\n", f"\n{TEAM_PARAGRAPH}\n{edits.doc_anchor}\n", 1)
    assert doc == expected, "the document is not the new release's text plus the team's paragraph"


def test_update_brings_the_new_pin_the_new_adr_and_the_renamed_answer(updated: tuple[Path, TeamEdits],
                                                                      releases: Releases) -> None:
    project, _ = updated
    pinned = [p for p in files(releases.fresh) if releases.new_pin in p.read_text(encoding="utf-8", errors="replace")]
    assert pinned, f"no generated file names Node.js {releases.new_pin}; the pin test would prove nothing"
    for path in files(project):
        rel = str(path.relative_to(project))
        if not is_team_owned(rel):  # an accepted ADR keeps the pin it recorded
            assert releases.old_pin not in path.read_text(encoding="utf-8", errors="replace"), \
                f"{rel} still names the older pin {releases.old_pin}"
    for path in pinned:
        rel = path.relative_to(releases.fresh)
        if not is_team_owned(str(rel)):
            assert releases.new_pin in (project / rel).read_text(encoding="utf-8"), f"{rel} misses the new pin"

    added = project / ADR_DIR / releases.added_adr
    assert added.is_file(), f"the record the newer playbook adds ({releases.added_adr}) did not arrive"
    assert added.read_bytes() == (releases.fresh / ADR_DIR / releases.added_adr).read_bytes()
    assert f"]({releases.added_adr})" in (project / ADR_DIR / "README.md").read_text(encoding="utf-8")

    answers = load_yaml(project / ".copier-answers.yml")
    assert answers[NEW_NAME] == COVERAGE and OLD_NAME not in answers
    assert f"{COVERAGE} %" in (project / "README.md").read_text(encoding="utf-8")


def test_update_converges_to_a_fresh_copy_except_for_team_work(updated: tuple[Path, TeamEdits],
                                                               releases: Releases) -> None:
    """Every template-managed file equals a fresh copy at NEW, plus the team's merged lines; nothing
    else appeared or vanished."""
    project, edits = updated
    after, fresh = snapshot(project), snapshot(releases.fresh)
    merged = {str(DOC), ".gitignore", str(ADR_DIR / "README.md")}
    differences = []
    for rel, data in fresh.items():
        if rel in merged or rel in edits.team_owned_before:
            continue
        if rel not in after:
            differences.append(f"{rel}: missing after the update")
        elif after[rel] != data and rel != ".copier-answers.yml":
            differences.append(f"{rel}: differs from a fresh copy")
    extra = sorted(set(after) - set(fresh) - set(edits.team_owned_before))
    assert not differences and not extra, "\n".join(differences + [f"{rel}: unexpected file" for rel in extra])
    assert after[".gitignore"] == fresh[".gitignore"] + GITIGNORE_EDIT.encode()
    index = after[str(ADR_DIR / "README.md")].decode()
    assert index.startswith(fresh[str(ADR_DIR / "README.md")].decode().rsplit("\n| --- |", 1)[0])
    assert index.endswith(f"| {TEAM_ROW}\n")


# --------------------------------------------------------------------------- a true conflict


TEAM_LINE = "The ledger team rewrote this sentence in its own words, on the very line the playbook changed."


def test_a_true_conflict_leaves_inline_markers_on_that_line_only(env: Env, releases: Releases,
                                                                tmp_path: Path) -> None:
    project = copy_old_release(env, releases, tmp_path / "ledger-service")
    answers = {**{k: v for k, v in load_yaml(project / ".copier-answers.yml").items() if not k.startswith("_")}}
    answers[NEW_NAME] = answers.pop(OLD_NAME)
    doc = project / DOC
    assert doc.read_text(encoding="utf-8").count(OLD_SENTENCE) == 1
    doc.write_text(doc.read_text(encoding="utf-8").replace(OLD_SENTENCE, TEAM_LINE), encoding="utf-8")
    edits = make_team_edits(env, project, answers)

    result = update(env, project, epoch=LATER_EPOCH)  # the README's command: keep every answer
    assert result.returncode == 0, result.stderr[-4000:]

    text = doc.read_text(encoding="utf-8")
    blocks = re.findall(r"^<<<<<<< before updating\n(.*?)^=======\n(.*?)^>>>>>>> after updating\n", text, re.S | re.M)
    assert len(blocks) == 1, f"expected one conflict block, found {len(blocks)}"
    ours, theirs = blocks[0]
    assert ours == TEAM_LINE + "\n" and theirs == releases.new_line + "\n"
    assert conflict_problems(project) == [f"{DOC}: conflict markers"], "only the document may conflict"
    unmerged = env.git(project, "diff", "--name-only", "--diff-filter=U").split()
    assert unmerged == [str(DOC)], "git must show the document as unmerged"

    # Take the template's side of the one conflict: the result is the new release plus the team's paragraph.
    resolved = re.sub(r"^<<<<<<< before updating\n.*?^=======\n(.*?)^>>>>>>> after updating\n", r"\1", text,
                      flags=re.S | re.M)
    fresh = (releases.fresh / DOC).read_text(encoding="utf-8")
    anchor = f"\n{edits.doc_anchor}\n"
    assert resolved == fresh.replace(anchor, f"\n{TEAM_PARAGRAPH}{anchor}", 1)
    after = snapshot(project)
    assert all(after.get(rel) == data for rel, data in edits.team_owned_before.items())


# --------------------------------------------------------------------------- changing answers on update


def copy_new_release(env: Env, releases: Releases, destination: Path, **answers: Any) -> Path:
    result = env.copier(destination.parent, "copy", "--trust", "--defaults", "--quiet",
                        *data_args({**BASE_ANSWERS, **answers}), str(releases.repo), str(destination))
    assert result.returncode == 0, result.stderr[-4000:]
    return destination


@pytest.mark.parametrize(("question", "before", "after"),
                         [("ci", "github", "gitlab"), ("database", "postgresql", "mysql")])
def test_changing_an_answer_on_update_rewrites_every_managed_artifact(
    env: Env, releases: Releases, tmp_path: Path, question: str, before: str, after: str
) -> None:
    project = copy_new_release(env, releases, tmp_path / "service", **{question: before})
    env.git(project, "init", "-q")
    env.commit_all(project, "Generate")
    original = snapshot(project)
    fresh = snapshot(copy_new_release(env, releases, tmp_path / "fresh", **{question: after}))

    result = update(env, project, "--data", f"{question}={after}")
    assert result.returncode == 0, result.stderr[-4000:]
    assert conflict_problems(project) == []
    assert load_yaml(project / ".copier-answers.yml")[question] == after
    updated = snapshot(project)
    managed = {rel for rel in fresh if not is_team_owned(rel)}
    stale = sorted(rel for rel in managed if updated.get(rel) != fresh[rel])
    assert not stale, f"template-managed files that do not match a fresh copy with {question}={after}: {stale}"
    leftovers = sorted(rel for rel in set(updated) - set(fresh) if not is_team_owned(rel))
    assert not leftovers, f"files of {question}={before} left behind: {leftovers}"
    assert all(updated.get(rel) == data for rel, data in original.items() if is_team_owned(rel)), \
        "an answer change must not rewrite team-owned files either"
    changed = sorted(rel for rel in managed if original.get(rel) != fresh[rel])
    assert len(changed) >= 3, f"{question}={after} changed almost nothing: {changed}"
    if question == "ci":
        assert not (project / ".github").exists()
        assert (project / ".gitlab-ci.yml").is_file()
    else:
        for rel in (".env.example", "docker-compose.yml", "package.json"):
            assert rel in changed, f"{rel} must follow the database answer"
        managed_text = "\n".join(updated[rel].decode(errors="replace") for rel in managed if rel in updated)
        assert "image: postgres:" not in managed_text and '"pg":' not in managed_text


def test_an_update_never_deletes_a_team_owned_file_the_new_render_lacks(env: Env, releases: Releases,
                                                                        tmp_path: Path) -> None:
    """Copier deletes every file the old render has and the new one lacks, edited or not. A team
    accepted the record that `cache: true` generated; turning the cache off on update must keep it
    (the _exclude entry for copier's old render), and the ADR check points at it."""
    toggle, record = next(
        (name, model.build({**releases.answers, name: True}).adrs[-1])
        for name in ("cache", "cqrs")
        if len(model.build({**releases.answers, name: True}).adrs) == len(model.build(
            {**releases.answers, name: False}).adrs) + 1
    )
    project = copy_new_release(env, releases, tmp_path / "service", **{toggle: True})
    env.git(project, "init", "-q")
    accepted = project / ADR_DIR / record["file"]
    accepted.write_text(accepted.read_text(encoding="utf-8").replace('status: "proposed"', 'status: "accepted"')
                        + "\nAccepted by the team after the load test of 2026-01-20.\n", encoding="utf-8")
    env.commit_all(project, f"Accept {record['file']}")
    kept = accepted.read_bytes()

    result = update(env, project, "--data", f"{toggle}=false")
    assert result.returncode == 0, result.stderr[-4000:]
    assert accepted.read_bytes() == kept, f"the update deleted or rewrote the team's {record['file']}"
    assert f"check_adr_numbers: warning: {ADR_DIR / record['file']}" in result.stderr
    assert conflict_problems(project) == []


# --------------------------------------------------------------------------- the ADR numbering rule


def test_an_adr_collision_fails_the_update_and_overwrites_nothing(env: Env, releases: Releases,
                                                                  tmp_path: Path) -> None:
    """A team that numbered its own record inside the template's range, with the number the newer
    playbook gives its new record: the update stops with both names, and keeps both files."""
    project = copy_old_release(env, releases, tmp_path / "ledger-service")
    number = releases.added_adr[:4]
    ours = project / ADR_DIR / f"{number}-our-own-decision.md"
    ours.write_text(TEAM_ADR, encoding="utf-8")
    env.commit_all(project, "A team record in the template's range")

    result = update(env, project)
    assert result.returncode != 0, "a collision of ADR numbers must not pass silently"
    assert f"ADR number {number} is used by" in result.stderr
    assert ours.name in result.stderr and releases.added_adr in result.stderr
    assert ours.read_text(encoding="utf-8") == TEAM_ADR
    assert (project / ADR_DIR / releases.added_adr).is_file()


def test_template_adrs_stay_below_the_team_range() -> None:
    assert len(adrs.catalogue()) < adrs.TEAM_ADR_FIRST
    keys = [entry["key"] for entry in adrs.catalogue()]
    assert len(keys) == len(set(keys)), "a catalogue key names one record"


def test_adr_check_reports_collisions_and_records_in_the_wrong_range(tmp_path: Path) -> None:
    check = load_script("migrations/check_adr_numbers.py")
    adr_dir = tmp_path / "adr"
    adr_dir.mkdir()
    for name in ("0001-a.md", "0002-b.md", "0002-ours.md", "0003-ours-too.md", "0100-team.md", "README.md"):
        (adr_dir / name).write_text("x", encoding="utf-8")
    errors, warnings = check.check(adr_dir, 100, {"0001-a.md", "0002-b.md"})
    assert len(errors) == 1 and "0002 is used by 0002-b.md and 0002-ours.md" in errors[0]
    assert len(warnings) == 1 and "0003-ours-too.md" in warnings[0]
    (adr_dir / "0002-ours.md").rename(adr_dir / "0101-ours.md")
    assert check.check(adr_dir, 100, {"0001-a.md", "0002-b.md"})[0] == []


# --------------------------------------------------------------------------- migrations


def load_script(relpath: str) -> Any:
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location(f"_script_{Path(relpath).stem}", REPO / relpath)
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault(spec.name, module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


def test_rename_migration_is_idempotent(tmp_path: Path) -> None:
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text(f"# Changes here will be overwritten by Copier\n_commit: {OLD}\n{OLD_NAME}: 61\nowner: a\n",
                       encoding="utf-8")
    command = [sys.executable, str(REPO / "migrations" / "rename_answers.py"), str(answers),
               f"{OLD_NAME}={NEW_NAME}"]
    assert run(command).returncode == 0
    once = answers.read_text(encoding="utf-8")
    assert yaml.safe_load(once) == {"_commit": OLD, NEW_NAME: 61, "owner": "a"}
    assert once.startswith("# Changes here")
    assert run(command).returncode == 0
    assert answers.read_text(encoding="utf-8") == once, "a second run must change nothing"


def test_overlay_resource_migration_lists_the_new_file_once_and_keeps_team_edits(tmp_path: Path) -> None:
    overlays = tmp_path / "deploy" / "k8s" / "overlays"
    team = ("# team comment\nnamespace: shop-dev\n\nresources:\n  - ../../base\n  - extra-team.yaml\n\n"
            "images:\n  - name: x\n    newTag: \"1.2\"\n")
    for env in ("dev", "prod"):
        (overlays / env).mkdir(parents=True)
        (overlays / env / "kustomization.yaml").write_text(team, encoding="utf-8")
    (overlays / "dev" / "network.yaml").write_text("---\n", encoding="utf-8")  # prod has no network.yaml
    command = [sys.executable, str(REPO / "migrations" / "add_overlay_resource.py"), "deploy/k8s/overlays", "network.yaml"]
    for _ in range(2):
        result = run(command, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    dev = (overlays / "dev" / "kustomization.yaml").read_text(encoding="utf-8")
    assert dev == team.replace("  - ../../base\n", "  - ../../base\n  - network.yaml\n"), dev
    assert yaml.safe_load(dev)["resources"] == ["../../base", "network.yaml", "extra-team.yaml"]
    assert (overlays / "prod" / "kustomization.yaml").read_text(encoding="utf-8") == team, "no file, no entry"
    assert "lists network.yaml already" in result.stdout


def test_move_migration_is_idempotent_and_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "k8s" / "overlays").mkdir(parents=True)
    (tmp_path / "k8s" / "overlays" / "a.yaml").write_text("team", encoding="utf-8")
    (tmp_path / "keep.txt").write_text("old", encoding="utf-8")
    (tmp_path / "taken.txt").write_text("new", encoding="utf-8")
    command = [sys.executable, str(REPO / "migrations" / "move_paths.py"), "k8s=deploy/k8s", "keep.txt=taken.txt"]
    for _ in range(2):
        result = run(command, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "deploy" / "k8s" / "overlays" / "a.yaml").read_text(encoding="utf-8") == "team"
        assert not (tmp_path / "k8s").exists()
        assert (tmp_path / "taken.txt").read_text(encoding="utf-8") == "new"
        assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "old"
    assert run([sys.executable, str(REPO / "migrations" / "move_paths.py"), "../x=y"], cwd=tmp_path).returncode != 0


def test_release_versions_are_pep440_and_cover_every_migration() -> None:
    release = Version(release_version())
    assert Version(OLD) < release
    for migration in copier_yml()["_migrations"]:
        if "version" in migration:
            assert Version(migration["version"]) <= release, f"migration {migration['version']} is newer than {release}"
        for part in migration["command"][1:2]:
            script = part.replace("{{ _copier_conf.src_path }}/", "")
            assert (REPO / script).is_file(), f"{script} is missing"


# --------------------------------------------------------------------------- ownership settings


def test_team_owned_paths_are_never_deleted_by_an_update() -> None:
    """_skip_if_exists lists the model's team-owned paths, and the _exclude entry that keeps them out
    of copier's old render prints that same list of the model."""
    assert team_owned_patterns() == list(layout.TEAM_OWNED_PATHS)
    entry = next(e for e in copier_yml()["_exclude"] if "old_copy" in e)
    assert "{{- team_owned_paths | join('\\n') }}" in entry
    assert model.build(load_yaml(EXAMPLES / "minimal-general.yml")).team_owned_paths == list(layout.TEAM_OWNED_PATHS)


def test_team_owned_paths_are_exactly_the_domain_modules_overlays_and_numbered_adrs(
    renderer: Any, tmp_path: Path
) -> None:
    """The _skip_if_exists patterns select the files rendered from the domain-module folder of the
    template (for every architecture), the overlays and the numbered ADRs, and nothing else: app
    wiring in the same folders stays template-managed."""
    from copier import run_copy

    source = tmp_path / "template-without-modules"
    shutil.copytree(renderer.template_source(), source)
    for folder in MODULE_DIRS:
        shutil.rmtree(source / "template" / folder)
    for combo_id, answers in (("defaults", {}), ("architecture-microservices",
                                                 {"architecture": "microservices", "message_broker": "redis"})):
        full = renderer.render(combo_id, answers)
        bare = tmp_path / f"bare-{combo_id}"
        run_copy(str(source), str(bare), data=answers, defaults=True, unsafe=True, quiet=True)
        module_files = set(snapshot(full)) - set(snapshot(bare))
        assert module_files, f"{combo_id}: the domain-module folder rendered nothing"
        for rel in snapshot(full):
            expected = (rel in module_files or rel.startswith("deploy/k8s/overlays/")
                        or re.fullmatch(r"docs/adr/\d{4}-[^/]+\.md", rel) is not None)
            assert is_team_owned(rel) == expected, \
                f"{combo_id}: {rel} is {'team-owned' if is_team_owned(rel) else 'template-managed'} by copier.yml"


# --------------------------------------------------------------------------- the scheduled update jobs


def stub_command(directory: Path, name: str, log: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stub = directory / name
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{log}"\n', encoding="utf-8")
    stub.chmod(0o755)


def bare_remote(env: Env, path: Path, project: Path) -> Path:
    """A bare repository that records the push options it receives (as GitLab reads them)."""
    env.git(path.parent if path.parent.exists() else Path("/"), "init", "-q", "--bare", str(path))
    env.git(path, "config", "receive.advertisePushOptions", "true")
    hook = path / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\ni=0\nwhile [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
                    '  eval "printf \'%s\\n\' \\"\\$GIT_PUSH_OPTION_$i\\"" >> "$GIT_DIR/push-options"\n'
                    '  i=$((i + 1))\ndone\ncat > /dev/null\n', encoding="utf-8")
    hook.chmod(0o755)
    env.git(project, "push", "-q", str(path), "HEAD:refs/heads/main")
    return path


def test_github_update_job_opens_a_pull_request_once(env: Env, releases: Releases, tmp_path: Path) -> None:
    """The run script of the generated workflow, executed as the runner would: copier finds the
    newer release, updates on a branch, pushes it and calls `gh pr create`; the next run sees the
    branch and does nothing."""
    project = copy_old_release(env, releases, tmp_path / "service")
    workflow = load_yaml(project / ".github" / "workflows" / "template-update.yml")
    step = workflow["jobs"]["update"]["steps"][-1]
    origin = bare_remote(env, tmp_path / "origin.git", project)
    env.git(project, "remote", "add", "origin", str(origin))
    gh_log = tmp_path / "gh.log"
    stub_command(tmp_path / "bin", "gh", gh_log)
    (tmp_path / "runner").mkdir()
    job_env = {**env.vars, "PATH": f"{tmp_path / 'bin'}:{Path(tool('copier')).parent}:{os.environ['PATH']}",
               "RUNNER_TEMP": str(tmp_path / "runner"), "GITHUB_SERVER_URL": "https://github.com",
               "GH_TOKEN": "test-token", "BASE_BRANCH": "main"}
    assert set(step["env"]) == {"GH_TOKEN", "BASE_BRANCH"}

    result = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=project, env=job_env)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    branch = f"template-update/{releases.new}"
    answers = yaml.safe_load(env.git(origin, "show", f"{branch}:.copier-answers.yml"))
    assert answers["_commit"] == releases.new and answers[NEW_NAME] == COVERAGE
    gh_args = gh_log.read_text(encoding="utf-8").split("\n")
    assert gh_args[:2] == ["pr", "create"] and "--draft" not in gh_args
    assert gh_args[gh_args.index("--head") + 1] == branch and gh_args[gh_args.index("--base") + 1] == "main"

    env.git(project, "switch", "-q", "main")
    again = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=project, env=job_env)
    assert again.returncode == 0 and "already open" in again.stdout
    assert gh_log.read_text(encoding="utf-8").count("create") == 1


def test_gitlab_update_job_opens_a_draft_merge_request_on_conflict(env: Env, releases: Releases,
                                                                   tmp_path: Path) -> None:
    """The script of the generated GitLab job against a bare remote that records push options:
    with a true conflict, the merge request is created as a Draft naming the conflicted file."""
    project = copy_old_release(env, releases, tmp_path / "service", ci="gitlab")
    doc = project / DOC
    doc.write_text(doc.read_text(encoding="utf-8").replace(OLD_SENTENCE, TEAM_LINE), encoding="utf-8")
    env.commit_all(project, "Team rewording")
    assert "- local: .gitlab/ci/template-update.yml" in (project / ".gitlab-ci.yml").read_text(encoding="utf-8")
    pipeline = load_yaml(project / ".gitlab-ci.yml")
    job = load_yaml(project / ".gitlab" / "ci" / "template-update.yml")["template-update"]
    assert job["stage"] in pipeline["stages"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule" && $TEMPLATE_UPDATE == "true"'}]
    server = tmp_path / "gitlab"
    remote = bare_remote(env, server / "shop" / "service.git", project)
    job_env = {**env.vars, "PATH": f"{Path(tool('copier')).parent}:{os.environ['PATH']}",
               "CI_SERVER_URL": f"file://{server}", "CI_SERVER_HOST": "gitlab.example.com",
               "CI_PROJECT_PATH": "shop/service", "CI_DEFAULT_BRANCH": "main", "TEMPLATE_UPDATE_TOKEN": "t"}

    result = run(["bash", "-c", job["script"][-1]], cwd=project, env=job_env)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    options = (remote / "push-options").read_text(encoding="utf-8").splitlines()
    assert "merge_request.create" in options and "merge_request.target=main" in options
    assert f"merge_request.title=Draft: Update from the playbook template {releases.new}" in options
    assert any(o.startswith("merge_request.description=") and str(DOC) in o for o in options)
    pushed = env.git(remote, "show", f"template-update/{releases.new}:{DOC}")
    assert "<<<<<<< before updating" in pushed and TEAM_LINE in pushed


# --------------------------------------------------------------------------- organisation-wide bootstrapping


def org_combinations() -> list[Any]:
    from matrix import org_combinations as combos

    return combos()


def test_org_example_set_bootstraps_in_one_run_and_matches_the_matrix(renderer: Any, tmp_path: Path) -> None:
    """One run of scripts/bootstrap_org.py writes every service of examples/org/; each repository is
    byte for byte the render the matrix checks under `org-<service>` (test_render, test_delivery,
    test_ci, test_docs), and passes test_render's checks here too."""
    import test_render

    output = tmp_path / "services"
    result = run([sys.executable, str(REPO / "scripts" / "bootstrap_org.py"), str(EXAMPLES / "org"),
                  "--output", str(output), "--template", str(renderer.template_source())])
    assert result.returncode == 0, result.stderr[-4000:]
    combos = org_combinations()
    assert len(combos) >= 3
    written = sorted(p.name for p in output.iterdir())
    assert len(written) == len(combos) and result.stdout.split() == [str(output / name) for name in written]
    for combo in combos:
        reference = renderer.render(combo.id, combo.answers)
        generated = output / load_yaml(reference / ".copier-answers.yml")["project_slug"]
        assert snapshot(generated) == snapshot(reference), f"{combo.id}: differs from the matrix render"
        test_render.test_renders(generated)
        test_render.test_nothing_left_unrendered(generated)
        test_render.test_yaml_files_parse(generated)
        test_render.test_yamllint(generated)
        test_render.test_json_files_parse(generated)
        test_render.test_answers_file_holds_answers_only(generated, combo)
        test_render.test_conditional_files_follow_answers(generated)
    org = load_yaml(EXAMPLES / "org" / "org.yml")
    for name in org["locked"]:
        stored = {str(load_yaml(output / n / ".copier-answers.yml")[name]) for n in written}
        assert stored == {str(org["answers"][name])}, f"the locked answer {name} differs between services"


def test_org_bootstrap_writes_nothing_when_one_service_is_invalid(renderer: Any, tmp_path: Path) -> None:
    org = tmp_path / "org"
    (org / "services").mkdir(parents=True)
    shutil.copy(EXAMPLES / "org" / "org.yml", org / "org.yml")
    shutil.copy(sorted((EXAMPLES / "org" / "services").glob("*.yml"))[0], org / "services" / "a-valid.yml")
    (org / "services" / "b-invalid.yml").write_text("project_name: Broken\nproject_slug: Not_A_Label\n",
                                                    encoding="utf-8")
    output = tmp_path / "services"
    command = [sys.executable, str(REPO / "scripts" / "bootstrap_org.py"), str(org), "--output", str(output),
               "--template", str(renderer.template_source())]
    result = run(command)
    assert result.returncode == 1
    assert "nothing was written" in result.stderr and "b-invalid.yml" in result.stderr
    assert "Validation error for question 'project_slug'" in result.stderr
    assert not output.exists()

    locked = load_yaml(org / "org.yml")["locked"][0]
    (org / "services" / "b-invalid.yml").write_text(f"project_name: Rogue\n{locked}: something-else\n",
                                                    encoding="utf-8")
    result = run(command)
    assert result.returncode == 1 and f"the organisation locks {locked}=" in result.stderr
    assert not output.exists()


# --------------------------------------------------------------------------- the shared compile cache


def test_compile_cache_shares_code_between_equal_environments_only() -> None:
    from copier._jinja_ext import YieldExtension, get_yield_context
    from jinja2 import Environment
    from jinja2.ext import Extension
    from jinja2.sandbox import SandboxedEnvironment

    from extensions.playbook import compile as compile_sharing

    class Shared(Extension):
        def __init__(self, environment: Environment) -> None:
            super().__init__(environment)
            compile_sharing.share_compiles(environment, REPO / "extensions")

    def environment(**options: Any) -> Environment:
        return SandboxedEnvironment(extensions=[YieldExtension, Shared], **options)

    source = "{% yield x from items %}{{ x }}-{{ suffix }}{% endyield %}"
    first, second = environment(keep_trailing_newline=True), environment(keep_trailing_newline=True)
    code = first.compile(source)
    assert second.compile(source) is code, "equal environments must reuse the code object"
    assert first.compile(source + " ") is not code

    template = second.from_string(source)
    template.render(items=[1, 2], suffix="a")
    assert get_yield_context(second).yield_name == "x"
    # copier compiles a path name again per file and relies on the compile resetting the yield state
    second.from_string(source).render(items=[3], suffix="b")
    assert get_yield_context(second).yield_iterable == [3]
    assert second.from_string("{{ suffix }}!").render(suffix="ok") == "ok!"

    other = environment(keep_trailing_newline=True, block_start_string="<%", block_end_string="%>")
    assert other.compile(source) is not code, "different delimiters must compile on their own"

    class Custom(Extension):
        tags = {"custom"}  # noqa: RUF012

    unknown = SandboxedEnvironment(extensions=[Custom, Shared], keep_trailing_newline=True)
    assert compile_sharing.fingerprint(unknown, "digest") is None
    assert unknown.compile("{{ a }}") is not unknown.compile("{{ a }}"), "an unknown parser disables the cache"
