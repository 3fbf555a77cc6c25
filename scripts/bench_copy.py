#!/usr/bin/env python3
"""Benchmark: `copier copy --defaults` of this template against a one-question empty template.

Both are committed to throw-away git repositories and copied with `--vcs-ref HEAD`, alternating,
in the same run, so machine load affects both alike. Prints the medians, the ratio and the goal.

    .venv/bin/python scripts/bench_copy.py [--runs 9] [--write-readme]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ("copier.yml", "extensions", "template", "includes")
GOAL = 1.5


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")


def template_repo(base: Path) -> Path:
    repo = base / "template"
    repo.mkdir()
    for part in PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, repo / part)
    make_repo(repo)
    return repo


def empty_repo(base: Path) -> Path:
    repo = base / "empty"
    (repo / "template").mkdir(parents=True)
    (repo / "copier.yml").write_text(
        "_subdirectory: template\nname:\n  type: str\n  default: world\n", encoding="utf-8")
    (repo / "template" / "hello.txt.jinja").write_text("Hello {{ name }}\n", encoding="utf-8")
    (repo / "template" / "{{_copier_conf.answers_file}}.jinja").write_text(
        "{{ _copier_answers|to_nice_yaml }}", encoding="utf-8")
    make_repo(repo)
    return repo


def copy_once(copier: str, source: Path, destination: Path) -> float:
    shutil.rmtree(destination, ignore_errors=True)
    start = time.perf_counter()
    result = subprocess.run([copier, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD",
                             str(source), str(destination)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"copier copy of {source.name} failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write-readme", action="store_true", help="put the figures into README.md")
    args = parser.parse_args()
    copier = str(REPO / ".venv" / "bin" / "copier")
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp:
        base = Path(tmp)
        ours, empty = template_repo(base), empty_repo(base)
        files_out = 0
        times: dict[str, list[float]] = {"template": [], "empty": []}
        copy_once(copier, ours, base / "warm")  # warm the OS caches once
        for _ in range(args.runs):
            times["empty"].append(copy_once(copier, empty, base / "out-empty"))
            times["template"].append(copy_once(copier, ours, base / "out-template"))
        files_out = sum(1 for p in (base / "out-template").rglob("*") if p.is_file())
    median_template = statistics.median(times["template"])
    median_empty = statistics.median(times["empty"])
    ratio = median_template / median_empty
    cpu = os.cpu_count()
    lines = [
        f"copier copy --defaults, {args.runs} alternating runs each, {cpu} CPUs, "
        f"{time.strftime('%Y-%m-%d')}:",
        "",
        "| template | median | min | max | files written |",
        "| --- | --- | --- | --- | --- |",
        f"| this template | {median_template:.2f} s | {min(times['template']):.2f} s | "
        f"{max(times['template']):.2f} s | {files_out} |",
        f"| one-question template | {median_empty:.2f} s | {min(times['empty']):.2f} s | "
        f"{max(times['empty']):.2f} s | 2 |",
        "",
        f"Ratio: {ratio:.2f}x (goal: at most {GOAL}x) — {'met' if ratio <= GOAL else 'NOT met'}.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write_readme:
        readme = REPO / "README.md"
        text = readme.read_text(encoding="utf-8")
        text = re.sub(r"(<!-- bench-copy:start -->\n).*?(\n<!-- bench-copy:end -->)",
                      lambda m: m.group(1) + report + m.group(2), text, flags=re.S)
        readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
