"""First push (issue 15, item 3): a render has no package-lock.json, and the generated CI says so first.

The first job of the GitHub workflows and of the GitLab pipeline checks for the lockfile before any
setup-node, cache or npm ci, and fails with the model's one line; every job that installs from the
lockfile depends on it. Its script is taken from the rendered files and run with bash in a copy of
the render, without and with a package-lock.json. The README and copier's after-copy message say
the same line.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import COMBINATIONS
from helpers import REPO, Renderer, load_yaml
from matrix import DEFAULT_ANSWERS_ID
from test_ci import ci_system, gitlab_jobs, gitlab_pipeline, resolve_gitlab_job, steps_of

from extensions.playbook import delivery as delivery_model

MISSING = delivery_model.LOCKFILE_MISSING
LOCKFILE = delivery_model.LOCKFILE
GITHUB_FLOWS = ("ci.yml", "release.yml")
CHECK_STEP = f"Check for {LOCKFILE} (npm ci and the Dockerfile install from it)"
# One render per CI system and shape: default (GitHub), microservices (GitHub), GitLab, GitLab
# microservices, and an existing repository (no generated app).
PICKED = [c for c in COMBINATIONS if c.id in (
    DEFAULT_ANSWERS_ID, "architecture-microservices", "ci-gitlab", "example-ecommerce-microservices-kafka",
    "example-existing-repository", "include_app-false")]


@pytest.fixture(params=PICKED, ids=[c.id for c in PICKED])
def ci_render(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    rendered = renderer.render(request.param.id, request.param.answers)
    if ci_system(rendered) == "none":
        pytest.skip("no CI in this render")
    return rendered


def test_the_picked_renders_cover_both_systems(renderer: Renderer) -> None:
    systems = {ci_system(renderer.render(c.id, c.answers)) for c in PICKED}
    assert {"github", "gitlab"} <= systems
    assert MISSING == "package-lock.json is missing: run npm install and commit package-lock.json"


# ------------------------------------------------------------------------------------------------ where the check runs


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [n if isinstance(n, str) else n["job"] for n in needs]


def all_needs(jobs: dict[str, dict[str, Any]], job_id: str) -> set[str]:
    """The jobs a job waits for, directly or through the jobs it needs."""
    seen: set[str] = set()
    todo = needs_of(jobs[job_id])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += needs_of(jobs[name])
    return seen


def github_uses_lockfile(job: dict[str, Any]) -> bool:
    """setup-node's npm cache (keyed on the lockfile), npm ci, or an image build (the Dockerfile's npm ci)."""
    for step in steps_of(job):
        uses = str(step.get("uses", ""))
        if uses.startswith(("actions/setup-node@", "docker/build-push-action@")):
            return True
        if "npm ci" in str(step.get("run", "")):
            return True
    return False


def github_check(rendered: Path, flow: str) -> str:
    """The lockfile job of a workflow: checkout, then the check (nothing cached or installed first)."""
    jobs = load_yaml(rendered / ".github" / "workflows" / flow)["jobs"]
    job = jobs["lockfile"]
    assert "needs" not in job, f"{flow}: the lockfile job waits for nothing"
    steps = steps_of(job)
    assert [str(s.get("uses", "")).split("@")[0] for s in steps] == ["actions/checkout", ""], steps
    assert steps[1]["name"] == CHECK_STEP
    return str(steps[1]["run"])


def gitlab_check(rendered: Path) -> str:
    pipeline = gitlab_pipeline(rendered)
    job = resolve_gitlab_job(pipeline, pipeline["lockfile"])
    assert job["stage"] == ".pre", "the first stage of every pipeline"
    assert "cache" not in job and "before_script" not in job and "needs" not in job
    (script,) = job["script"]
    return str(script)


def test_every_job_that_needs_the_lockfile_waits_for_the_check(ci_render: Path) -> None:
    rendered = ci_render
    if ci_system(rendered) == "github":
        for flow in GITHUB_FLOWS:
            jobs = load_yaml(rendered / ".github" / "workflows" / flow)["jobs"]
            github_check(rendered, flow)
            users = [job_id for job_id, job in jobs.items() if github_uses_lockfile(job)]
            assert users, f"{flow}: some job installs from the lockfile"
            for job_id in users:
                assert "lockfile" in all_needs(jobs, job_id), f"{flow}:{job_id} runs without the lockfile check"
        return
    pipeline = gitlab_pipeline(rendered)
    gitlab_check(rendered)
    jobs = gitlab_jobs(pipeline)
    stages = pipeline["stages"]
    users = []
    for job_id, job in jobs.items():
        commands = " ".join([*job.get("before_script", []), *job.get("script", [])])
        if job_id != "lockfile" and ("npm ci" in commands or "buildctl" in commands or "cache" in job):
            users.append(job_id)
            if "needs" in job:
                assert "lockfile" in all_needs(jobs, job_id), f"{job_id} needs jobs, but not the lockfile check"
            else:
                # without needs a job waits for every earlier stage, and .pre comes before all of them
                assert job.get("stage", "test") in stages, job_id
    assert "image:publish" in users
    # the check runs in every pipeline but the template-update schedule (which runs that job only)
    assert jobs["lockfile"]["rules"] == pipeline[".checks"]["rules"]
    assert jobs["lockfile"]["rules"][-1] == {"when": "on_success"} and len(jobs["lockfile"]["rules"]) == 2


# ------------------------------------------------------------------------------------------------ the check, run


def scripts_of(rendered: Path) -> dict[str, str]:
    if ci_system(rendered) == "github":
        return {flow: github_check(rendered, flow) for flow in GITHUB_FLOWS}
    return {".gitlab-ci.yml": gitlab_check(rendered)}


def test_the_check_fails_with_one_line_without_the_lockfile(ci_render: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "repository"
    shutil.copytree(ci_render, workspace, symlinks=True)
    assert not (workspace / LOCKFILE).exists(), "a render has no lockfile"
    for where, script in scripts_of(ci_render).items():
        missing = subprocess.run(["bash", "-e", "-c", script], cwd=workspace, capture_output=True, text=True,
                                 check=False, stdin=subprocess.DEVNULL)
        assert missing.returncode != 0, f"{where}: passes without {LOCKFILE}"
        lines = (missing.stdout + missing.stderr).splitlines()
        assert lines == [MISSING], f"{where}: {lines}"
    (workspace / LOCKFILE).write_text('{"lockfileVersion": 3}\n', encoding="utf-8")
    for where, script in scripts_of(ci_render).items():
        present = subprocess.run(["bash", "-e", "-c", script], cwd=workspace, capture_output=True, text=True,
                                 check=False, stdin=subprocess.DEVNULL)
        assert present.returncode == 0, f"{where}: fails with {LOCKFILE}: {present.stdout}{present.stderr}"
        assert MISSING not in present.stdout + present.stderr


# ------------------------------------------------------------------------------------------------ README and message


def test_readme_says_the_same_line(ci_render: Path) -> None:
    readme = (ci_render / "README.md").read_text(encoding="utf-8")
    assert f"`{MISSING}`" in readme
    assert f"commit it.\n`npm ci` in CI and in the Dockerfile installs from it" in readme \
        or f"commit this repository's `{LOCKFILE}`" in readme


def test_after_copy_message_says_the_same_line(renderer: Renderer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from copier import run_copy

    for answers, shown in (({}, True), ({"ci": "none"}, False)):
        destination = tmp_path / f"ci-{answers.get('ci', 'default')}"
        run_copy(str(renderer.template_source()), str(destination), data=answers, defaults=True, unsafe=True,
                 quiet=False, overwrite=True)
        message = capsys.readouterr().err
        assert "is ready in" in message, message
        assert (MISSING in message) is shown, message
        assert f"npm install, then commit {LOCKFILE}" in message
        readme = (destination / "README.md").read_text(encoding="utf-8")
        assert (MISSING in readme) is shown
    assert "delivery.lockfile_missing" in (REPO / "copier.yml").read_text(encoding="utf-8")
