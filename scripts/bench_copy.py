#!/usr/bin/env python3
"""Benchmark: `copier copy --defaults` of this template against a one-question empty template.

Both are committed to throw-away git repositories and copied with `--vcs-ref HEAD`, alternating,
in the same run, so machine load affects both alike. Prints the medians, the ratio and the goal,
and the CPU time (user + system of copier and the git processes it starts), which other load on
the machine disturbs less than wall time.

The template keeps nothing on disk between runs (its one cache, extensions/playbook/compile.py,
lives in the process), so every copy costs what the first copy of a release costs a user: one
untimed warm-up copy only warms the OS caches. `--no-disk-cache` is accepted for the commands of
older notes and changes nothing. `--profile` adds one copy under cProfile and prints where its time
goes: the template's extension code against copier's own per-file work.

    .venv/bin/python scripts/bench_copy.py [--runs 9] [--no-disk-cache] [--profile] [--write-contributing]
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PARTS = ("copier.yml", "extensions", "template", "includes")
GOAL = 2.5  # issue 14: at most 2.5x the one-question template's CPU time


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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def copy_once(copier: str, source: Path, destination: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and CPU time of one copy."""
    shutil.rmtree(destination, ignore_errors=True)
    cpu, start = children_cpu(), time.perf_counter()
    result = subprocess.run([copier, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD",
                             str(source), str(destination)], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"copier copy of {source.name} failed:\n{result.stderr[-3000:]}")
    return elapsed, children_cpu() - cpu


def bench_env(base: Path) -> dict[str, str]:
    """The copies' environment: a cache directory of their own (copier's and git's)."""
    return dict(os.environ, XDG_CACHE_HOME=str(base / "xdg-cache"))


# --------------------------------------------------------------------------- --profile

# (label, end of the file name, function): cumulative times read from the profile
PROFILE_ROWS = (
    ("copier import", "copier/__init__.py", "<module>"),
    ("template clones (git clone + checkout)", "copier/_vcs.py", "clone"),
    ("copier.yml parsing (copier's YAML loader)", "copier/_template.py", "load_template_config"),
    ("questions (_ask)", "copier/_main.py", "_ask"),
    ("path names (_render_path, every part rendered)", "copier/_main.py", "_render_path"),
    ("files (_render_file)", "copier/_main.py", "_render_file"),
    ("  of which `git config` per written file", "copier/_main.py", "_sync_git_index_executable_bit"),
    ("render context per template/path part (copier)", "copier/_main.py", "_render_context"),
    ("migrations (_execute_tasks)", "copier/_main.py", "_execute_tasks"),
    ("Jinja compile (all)", "jinja2/environment.py", "compile"),
)


def extension_time(stats: dict[Any, Any]) -> tuple[float, list[tuple[float, str]]]:
    """Time in the template's extensions/ code: cumulative time of each extension function over
    the calls that come from outside extensions/ (so nested calls count once)."""
    entries: dict[str, float] = {}
    for (filename, _, function), (_, _, _, _, callers) in stats.items():
        if "/extensions/" not in filename:
            continue
        for caller, edge in callers.items():
            if "/extensions/" not in caller[0]:
                label = f"{Path(filename).name}:{function}"
                entries[label] = entries.get(label, 0.0) + edge[3]
    ranked = sorted(((seconds, label) for label, seconds in entries.items()), reverse=True)
    return sum(entries.values()), ranked


def profile_report(command: list[str], cwd: Path, env: dict[str, str], title: str) -> str:
    """Run one copier command under cProfile and summarise where the time goes."""
    output = cwd.parent / f"profile-{os.getpid()}-{time.monotonic_ns()}.prof"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), *command],
                            cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"profiled run failed:\n{result.stderr[-3000:]}")
    stats: dict[Any, Any] = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    total = max(row[3] for row in stats.values())
    lines = [f"{title}: {total:.2f} s under cProfile (profiling inflates Python-heavy parts)", ""]
    for label, suffix, function in PROFILE_ROWS:
        seconds = calls = 0.0
        for (filename, _, name), (_, count, _, cumulative, _) in stats.items():
            if name == function and filename.endswith(suffix):
                seconds, calls = seconds + cumulative, calls + count
        if calls:
            lines.append(f"  {seconds:6.3f} s  {int(calls):5d} calls  {label}")
    ours, ranked = extension_time(stats)
    lines.append(f"  {ours:6.3f} s               template extension code (extensions/*.py), of which:")
    lines.extend(f"  {seconds:6.3f} s                 {label}" for seconds, label in ranked[:6] if seconds >= 0.001)
    return "\n".join(lines)


def write_contributing_block(name: str, report: str) -> None:
    """Puts `report` between CONTRIBUTING.md's `<!-- name:start -->` and `<!-- name:end -->` markers."""
    document = REPO / "CONTRIBUTING.md"
    text = document.read_text(encoding="utf-8")
    block = re.compile(rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", flags=re.S)
    if not block.search(text):
        raise SystemExit(f"CONTRIBUTING.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
    document.write_text(block.sub(lambda m: m.group(1) + report + m.group(2), text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write-contributing", action="store_true", help="put the figures into CONTRIBUTING.md")
    parser.add_argument("--no-disk-cache", action="store_true",
                        help="accepted for older notes' commands; the template keeps no on-disk cache")
    parser.add_argument("--profile", action="store_true", help="also profile one copy and print the breakdown")
    args = parser.parse_args()
    copier = str(REPO / ".venv" / "bin" / "copier")
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp:
        base = Path(tmp)
        env = bench_env(base)
        ours, empty = template_repo(base), empty_repo(base)
        files_out = 0
        times: dict[str, list[float]] = {"template": [], "empty": []}
        cpu: dict[str, list[float]] = {"template": [], "empty": []}
        copy_once(copier, ours, base / "warm", env)  # warm the OS caches once
        copy_once(copier, empty, base / "warm-empty", env)
        for _ in range(args.runs):
            for name, source in (("empty", empty), ("template", ours)):
                elapsed, used = copy_once(copier, source, base / f"out-{name}", env)
                times[name].append(elapsed)
                cpu[name].append(used)
        files_out = sum(1 for p in (base / "out-template").rglob("*") if p.is_file())
        profile = ""
        if args.profile:
            shutil.rmtree(base / "profiled", ignore_errors=True)
            profile = profile_report(
                [copier, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD", str(ours),
                 str(base / "profiled")], base, env, "One profiled `copier copy` of this template")
    median_template = statistics.median(times["template"])
    median_empty = statistics.median(times["empty"])
    ratio = median_template / median_empty
    cpu_template, cpu_empty = statistics.median(cpu["template"]), statistics.median(cpu["empty"])
    cpu_count = os.cpu_count()
    lines = [
        f"copier copy --defaults, {args.runs} alternating runs each, {cpu_count} CPUs, "
        f"{time.strftime('%Y-%m-%d')} (every copy a first copy: no on-disk cache):",
        "",
        "| template | median | min | max | CPU time (median) | files written |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| this template | {median_template:.2f} s | {min(times['template']):.2f} s | "
        f"{max(times['template']):.2f} s | {cpu_template:.2f} s | {files_out} |",
        f"| one-question template | {median_empty:.2f} s | {min(times['empty']):.2f} s | "
        f"{max(times['empty']):.2f} s | {cpu_empty:.2f} s | 2 |",
        "",
        f"Ratio: {ratio:.2f}x (goal: at most {GOAL}x) — {'met' if ratio <= GOAL else 'NOT met'}. "
        f"Ratio of the fastest runs: {min(times['template']) / min(times['empty']):.2f}x; "
        f"of the CPU times: {cpu_template / cpu_empty:.2f}x.",
    ]
    report = "\n".join(lines)
    print(report)
    if profile:
        print("\n" + profile)
    if args.write_contributing:
        write_contributing_block("bench-copy", report)


if __name__ == "__main__":
    main()
