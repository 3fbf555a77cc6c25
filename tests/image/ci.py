"""The build arguments the rendered GitHub workflows pass to the image build, per matrix entry, exactly as
written there (`build-args:` of docker/build-push-action, `${{ matrix.x }}` and `${{ env.x }}` expanded with
tests/test_contract.py's own expansion)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import load_yaml
from test_contract import github_expand, github_matrix


@dataclass(frozen=True)
class CiBuild:
    where: str  # workflow, job, matrix entry
    args: tuple[tuple[str, str], ...]  # (name, value) in the order written
    matrix: tuple[tuple[str, str], ...] = ()  # the matrix entry of this build

    def matrix_values(self) -> set[str]:
        return {value for _, value in self.matrix}

    def buildah_options(self) -> list[str]:
        return [option for name, value in self.args for option in ("--build-arg", f"{name}={value}")]


def github_builds(rendered: Path) -> list[CiBuild]:
    """Every docker/build-push-action step of the workflows, once per matrix entry, with its build arguments."""
    builds = []
    for path in sorted((rendered / ".github" / "workflows").glob("*.yml")):
        workflow = load_yaml(path)
        workflow_env = {k: str(v) for k, v in (workflow.get("env") or {}).items()}
        for job_id, job in (workflow.get("jobs") or {}).items():
            for entry in github_matrix(job):
                env = {**workflow_env,
                       **{k: github_expand(v, workflow_env, entry) for k, v in (job.get("env") or {}).items()}}
                for step in job.get("steps") or []:
                    if not str(step.get("uses", "")).startswith("docker/build-push-action@"):
                        continue
                    step_env = {**env, **{k: github_expand(v, env, entry) for k, v in (step.get("env") or {}).items()}}
                    text = github_expand((step.get("with") or {}).get("build-args", ""), step_env, entry)
                    args = []
                    for line in text.splitlines():
                        if line.strip():
                            name, sep, value = line.strip().partition("=")
                            assert sep, f"{path.name} {job_id}: build argument without a value: {line!r}"
                            assert "${{" not in value, f"{path.name} {job_id}: unexpanded {value!r}"
                            args.append((name.strip(), value))
                    builds.append(CiBuild(f"{path.name} {job_id} {entry or ''}".strip(), tuple(args),
                                          tuple((str(k), str(v)) for k, v in entry.items())))
    return builds
