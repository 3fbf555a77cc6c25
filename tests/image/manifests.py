"""The migration command the rendered Kubernetes manifests run: the container `args` of the migration Job in
`kubectl kustomize deploy/k8s/overlays/<overlay>` (the image's entrypoint, node, runs them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from helpers import run, tool


@dataclass(frozen=True)
class MigrationJob:
    name: str
    image: str  # repository, without tag or digest
    args: tuple[str, ...]


def repository(reference: str) -> str:
    reference = reference.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    return reference.rsplit(":", 1)[0] if ":" in last else reference


def migration_jobs(rendered: Path, overlay: str = "dev") -> list[MigrationJob]:
    result = run([tool("kubectl"), "kustomize", str(rendered / "deploy" / "k8s" / "overlays" / overlay)])
    assert result.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr[-3000:]}"
    jobs = []
    for document in yaml.safe_load_all(result.stdout):
        if not document or document.get("kind") != "Job":
            continue
        containers = document["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1, f"Job {document['metadata']['name']} has {len(containers)} containers"
        container = containers[0]
        assert "command" not in container, "the Job overrides the image's entrypoint; this tier runs node"
        jobs.append(MigrationJob(document["metadata"]["name"], repository(container["image"]),
                                 tuple(str(arg) for arg in container.get("args") or [])))
    return jobs
