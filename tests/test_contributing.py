"""CONTRIBUTING.md stays true: its answer map is what scripts/answer_map.py computes from the code now,
and every path of this repository that it names in backticks exists."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from helpers import REPO, Renderer

CONTRIBUTING = REPO / "CONTRIBUTING.md"
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


def load_answer_map() -> ModuleType:
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return importlib.import_module("answer_map")


answer_map = load_answer_map()


def decision_dates(renders: dict[str, Path]) -> set[str]:
    """The ADR dates of the renders: one date unless the renders straddle midnight."""
    dates: set[str] = set()
    for render in renders.values():
        for record in (render / "docs" / "adr").glob("0*.md"):
            dates |= set(re.findall(r"^date: (\S+)$", record.read_text(encoding="utf-8"), re.MULTILINE))
    return dates


@pytest.fixture
def session_renderer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    """The session's renderer; with `-p no:xdist` (no `worker_id` for conftest's fixture) one in the same place."""
    try:
        renderer: Renderer = request.getfixturevalue("renderer")
    except pytest.FixtureLookupError:
        renderer = Renderer(tmp_path_factory.getbasetemp() / "shared")
    return renderer


@pytest.mark.slow
def test_answer_map_is_current(session_renderer: Renderer, tmp_path: Path) -> None:
    """The block between the answer-map markers equals the table computed from today's code and renders
    (the session's renders of the same combinations; copies of its own if they carry two dates)."""
    renderer = session_renderer
    combinations = answer_map.variations()
    renders = {combo.id: renderer.render(combo.id, combo.answers) for combo in combinations}
    if len(decision_dates(renders)) > 1:
        renders = answer_map.render_all(tmp_path, combinations)
    expected = answer_map.answer_table(renders)
    current = answer_map.read_block(CONTRIBUTING.read_text(encoding="utf-8"))
    assert current is not None, f"CONTRIBUTING.md has no {answer_map.START} ... {answer_map.END} block"
    assert current == expected, (
        f"the answer map of CONTRIBUTING.md is out of date; rows that differ: "
        f"{', '.join(answer_map.differing_rows(current, expected)) or '(the text around the rows)'}; "
        "run .venv/bin/python scripts/answer_map.py --write")


def repository_top_level() -> set[str]:
    """The top-level names of this repository's files (tracked, or new and not ignored: not .venv)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    if listed.returncode != 0:  # not a git work tree: what is there, without hidden tool directories
        return {path.name for path in REPO.iterdir() if not path.name.startswith(".")}
    return {line.split("/", 1)[0] for line in listed.stdout.splitlines() if line}


def repository_files(suffix: str) -> set[str]:
    return {path.name for path in REPO.rglob(f"*{suffix}") if not SKIPPED_DIRS & set(path.relative_to(REPO).parts)}


def prose(text: str) -> str:
    """CONTRIBUTING.md without the generated answer map (paths of a generated repository) and fenced code."""
    text = re.sub(re.escape(answer_map.START) + r".*?" + re.escape(answer_map.END), "", text, flags=re.DOTALL)
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def named_paths(text: str) -> list[str]:
    """Backticked words that name a path of this repository: the first segment is a top-level entry of
    the repository (`tests/servers/`, `extensions/playbook/*.py`, `includes/adr/<key>.md.jinja`), or a bare
    Python file name (`backing.py`); generated paths (`docs/adr/`, `src/`) and Jinja file names are left out."""
    top = repository_top_level()
    paths = []
    for span in re.findall(r"`([^`\n]+)`", prose(text)):
        for word in span.split():
            if re.search(r"""[{}'"$=@]""", word) or word.startswith(("-", "~", "/", "./", "../")):
                continue
            word = re.sub(r"(\.py):\w+$", r"\1", word)
            if ("/" in word and word.split("/", 1)[0] in top) or ("/" not in word and word.endswith(".py")):
                paths.append(word)
    return paths


def missing_paths(text: str) -> list[str]:
    python_files = repository_files(".py")
    missing = []
    for word in named_paths(text):
        if "/" not in word:
            if word not in python_files:
                missing.append(word)
            continue
        pattern = re.sub(r"<[^>]+>", "*", word).rstrip("/")
        found = any(REPO.glob(pattern)) if any(char in pattern for char in "*?[") else (REPO / pattern).exists()
        if not found:
            missing.append(word)
    return missing


def test_backticked_repository_paths_exist() -> None:
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert len(named_paths(text)) > 50, "CONTRIBUTING.md names the repository's files in backticks"
    missing = missing_paths(text)
    assert not missing, f"CONTRIBUTING.md names paths that do not exist: {sorted(set(missing))}"


def test_path_check_catches_a_missing_path() -> None:
    """The rule above finds what it is for: a renamed module, a deleted file, a misspelt folder."""
    assert missing_paths("`tests/servers.py`, `test_derive.py`, `extensions/no_such_module.py`, "
                         "`includes/adr/<key>.md.jinja`, `docs/adr/`, `tests/servers/`") == [
        "tests/servers.py", "test_derive.py", "extensions/no_such_module.py"]
