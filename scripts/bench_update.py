#!/usr/bin/env python3
"""Benchmark: `copier update` of a generated service against `copier copy` of the same answers.

A throw-away git repository of this template gets two release tags: OLD (today's tree with one
sentence of the architecture document worded differently) and NEW (today's tree). Each round copies
a service at OLD and commits it (not timed), then times `copier update --trust --defaults
--skip-answered` to NEW, and times `copier copy --trust --defaults --vcs-ref NEW` of the same answers;
the two timings alternate within one run, so machine load affects both alike. Prints the medians,
the ratio and the goal (at most 2.5x), and the CPU time (user + system of copier and the git
processes it starts), which other load on the machine disturbs less than wall time.

The template keeps nothing on disk between runs; one untimed warm-up copy warms the OS caches.
`--without-compile-cache` turns off the one compile per source and process
(extensions/playbook/compile.py) to show what it saves, and `--profile` adds one update under
cProfile with the breakdown of its time (see bench_copy.py).

    .venv/bin/python scripts/bench_update.py [--runs 7] [--without-compile-cache] [--profile] [--write-contributing]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_copy import bench_env, children_cpu, profile_report, write_contributing_block

REPO = Path(__file__).resolve().parent.parent
PARTS = ("copier.yml", "extensions", "template", "includes", "migrations")
DOC = "template/docs/architecture/DOC006-BackendArchitecture.md.jinja"
OLD, NEW = "0.9.0", "1.0.0"
GOAL = 2.5


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A", "--force")  # --force: template/.gitignore would hide .env.example.jinja
    git(repo, "commit", "-q", "--no-gpg-sign", "-m", message)


def template_repo(base: Path) -> Path:
    """Today's template tagged NEW, and a sibling commit tagged OLD whose document differs by a line."""
    repo = base / "template"
    repo.mkdir()
    for part in PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, repo / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, repo / part)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "new")
    git(repo, "tag", NEW)
    git(repo, "checkout", "-q", "-b", "older")
    doc = repo / DOC
    doc.write_text(doc.read_text(encoding="utf-8") + "\nA sentence of the older release.\n", encoding="utf-8")
    commit_all(repo, "old")
    git(repo, "tag", OLD)
    git(repo, "checkout", "-q", "main")
    return repo


def copier(copier_bin: str, *args: str, cwd: Path, env: dict[str, str], cpu: list[float] | None = None) -> float:
    """Wall time of one copier command; its CPU time goes to `cpu`."""
    used, start = children_cpu(), time.perf_counter()
    result = subprocess.run([copier_bin, *args], cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"copier {args[0]} failed:\n{result.stderr[-3000:]}")
    if cpu is not None:
        cpu.append(children_cpu() - used)
    return elapsed


def generated_project(copier_bin: str, repo: Path, project: Path, env: dict[str, str]) -> None:
    """A service copied at OLD and committed (not timed)."""
    copier(copier_bin, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", OLD, str(repo), str(project),
           cwd=project.parent, env=env)
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write-contributing", action="store_true", help="put the figures into CONTRIBUTING.md")
    parser.add_argument("--without-compile-cache", action="store_true",
                        help="compile every source in every render (NEST_PLAYBOOK_NO_SHARED_COMPILE), for comparison")
    parser.add_argument("--profile", action="store_true", help="also profile one update and print the breakdown")
    args = parser.parse_args()
    copier_bin = str(REPO / ".venv" / "bin" / "copier")
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1767225600")
    times: dict[str, list[float]] = {"update": [], "copy": []}
    cpu: dict[str, list[float]] = {"update": [], "copy": []}
    profile = ""
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        base = Path(tmp)
        env = bench_env(base)
        if args.without_compile_cache:
            env["NEST_PLAYBOOK_NO_SHARED_COMPILE"] = "1"
        repo = template_repo(base)
        copier(copier_bin, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", NEW, str(repo),
               str(base / "warm"), cwd=base, env=env)  # warm the OS caches once
        for index in range(args.runs):
            project = base / f"service-{index}"
            generated_project(copier_bin, repo, project, env)
            times["update"].append(copier(copier_bin, "update", "--trust", "--defaults", "--skip-answered",
                                          "--quiet", cwd=project, env=env, cpu=cpu["update"]))
            fresh = base / f"fresh-{index}"
            times["copy"].append(copier(copier_bin, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", NEW,
                                        str(repo), str(fresh), cwd=base, env=env, cpu=cpu["copy"]))
            shutil.rmtree(fresh)
        files_out = sum(1 for p in (base / "warm").rglob("*") if p.is_file())
        if args.profile:
            project = base / "service-profiled"
            generated_project(copier_bin, repo, project, env)
            profile = profile_report([copier_bin, "update", "--trust", "--defaults", "--skip-answered", "--quiet"],
                                     project, env, "One profiled `copier update` of a generated service")
    update, copy = statistics.median(times["update"]), statistics.median(times["copy"])
    ratio = update / copy
    cpu_update, cpu_copy = statistics.median(cpu["update"]), statistics.median(cpu["copy"])
    lines = [
        f"copier update ({OLD} to {NEW}) against copier copy of the same answers, {args.runs} alternating runs "
        f"each, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, {files_out} files per service"
        f"{', without the shared compile' if args.without_compile_cache else ''}:",
        "",
        "| operation | median | min | max | CPU time (median) |",
        "| --- | --- | --- | --- | --- |",
        f"| `copier update --defaults --skip-answered` | {update:.2f} s | {min(times['update']):.2f} s | "
        f"{max(times['update']):.2f} s | {cpu_update:.2f} s |",
        f"| `copier copy --defaults` | {copy:.2f} s | {min(times['copy']):.2f} s | {max(times['copy']):.2f} s | "
        f"{cpu_copy:.2f} s |",
        "",
        f"Ratio: {ratio:.2f}x (goal: at most {GOAL}x) — {'met' if ratio <= GOAL else 'NOT met'}. "
        f"Ratio of the fastest runs (least disturbed by other load): "
        f"{min(times['update']) / min(times['copy']):.2f}x; of the CPU times: {cpu_update / cpu_copy:.2f}x.",
    ]
    report = "\n".join(lines)
    print(report)
    if profile:
        print("\n" + profile)
    if args.write_contributing:
        write_contributing_block("bench-update", report)


if __name__ == "__main__":
    main()
