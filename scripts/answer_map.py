#!/usr/bin/env python3
"""The map from each answer of copier.yml to where it acts, computed from the code (CONTRIBUTING.md).

One Markdown table row per question (keys of copier.yml that do not start with `_`):

- model modules that read it: the modules of extensions/playbook/ that read `answers["<name>"]`
  (or `answers['<name>']`); the modules that call a helper of features.py reading it (transitively
  through the other helpers); adrs.py for an answer a `when` of extensions/data/adrs.yml tests,
  registers.py for one a `when` of extensions/data/registers.yml tests, and compliance.py for one a
  `when` of extensions/data/compliance.yml tests;
  validators.py for an answer whose copier.yml validator calls `check('<name>', ...)`;
- files the answer changes in the render: the template is rendered with copier's Python API for
  the defaults and for each one-option variation of tests/matrix.py's `variation_combinations()`
  (SOURCE_DATE_EPOCH fixed, two renders at a time); a variation's cell lists the paths that differ
  from the defaults render (added, removed or other content). A question without a variation
  (free text, the bounded contexts, the targets) gets every file of those renders whose template, or
  an include it pulls in, prints it (`{{ <name>` or `<name> |` in template/ and includes/).
  Six paths or fewer are listed; more are counted per top-level directory.

    .venv/bin/python scripts/answer_map.py            # print the table
    .venv/bin/python scripts/answer_map.py --write    # put it into CONTRIBUTING.md
    .venv/bin/python scripts/answer_map.py --check    # exit 1 naming the rows CONTRIBUTING.md has wrong
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CONTRIBUTING = REPO / "CONTRIBUTING.md"
PLAYBOOK = REPO / "extensions" / "playbook"
ADR_CATALOGUE = REPO / "extensions" / "data" / "adrs.yml"
REGISTERS = REPO / "extensions" / "data" / "registers.yml"
COMPLIANCE = REPO / "extensions" / "data" / "compliance.yml"
TEMPLATE = REPO / "template"
INCLUDES = REPO / "includes"
TEMPLATE_PARTS = ("copier.yml", "extensions", "template", "includes")
START, END = "<!-- answer-map:start -->", "<!-- answer-map:end -->"
EPOCH = "1767225600"  # 2026-01-01: every render states the same ADR date
DEFAULTS_ID = "defaults"
LIST_AT_MOST = 6
HEADER = ("| Question | Model modules that read it | Files the answer changes in the render |\n"
          "| --- | --- | --- |")


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def questions() -> dict[str, dict[str, Any]]:
    """The questions of copier.yml in their order (settings start with '_')."""
    return {name: spec for name, spec in load_yaml(REPO / "copier.yml").items() if not name.startswith("_")}


# ---------------------------------------------------------------------------------------- model modules


def answer_reads(tree: ast.AST) -> set[str]:
    """Names read as `answers["<name>"]` in a module or function."""
    return {
        node.slice.value for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "answers"
        and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
    }


def called_names(tree: ast.AST) -> set[str]:
    """Functions called by name (`needs_redis(...)`) or as an attribute of `features` (`features.features(...)`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                  and node.func.value.id == "features"):
                names.add(node.func.attr)
    return names


def feature_helpers() -> dict[str, set[str]]:
    """{helper of features.py: the answers it reads, through the other helpers too}."""
    tree = ast.parse((PLAYBOOK / "features.py").read_text(encoding="utf-8"))
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    reads = {function.name: answer_reads(function) for function in functions}
    calls = {function.name: called_names(function) & reads.keys() for function in functions}
    changed = True
    while changed:
        changed = False
        for name, callees in calls.items():
            for callee in callees:
                if not reads[callee] <= reads[name]:
                    reads[name] |= reads[callee]
                    changed = True
    return reads


def when_answers(condition: Mapping[str, Any] | None) -> set[str]:
    """The names a `when` tests (playbook/adrs.py: holds)."""
    names: set[str] = set()
    for name, expected in (condition or {}).items():
        if name == "not":
            names |= when_answers(expected)
        elif name == "any":
            names |= {answer for option in expected for answer in when_answers(option)}
        else:
            names.add(name)
    return names


def nested_when_answers(data: Any) -> set[str]:
    """The names every `when` anywhere in a data file tests (extensions/data/compliance.yml nests them in
    checklists, rows, cases, evidence items and fragments)."""
    names: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            names |= when_answers(value) if key == "when" else nested_when_answers(value)
    elif isinstance(data, list):
        for item in data:
            names |= nested_when_answers(item)
    return names


def model_readers() -> dict[str, list[str]]:
    """{question: the modules of extensions/playbook/ that read it}."""
    helpers = feature_helpers()
    readers: dict[str, set[str]] = {}
    for path in sorted(PLAYBOOK.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = answer_reads(tree)
        for helper in called_names(tree) & helpers.keys():
            names |= helpers[helper]
        for name in names:
            readers.setdefault(name, set()).add(path.name)
    for record in load_yaml(ADR_CATALOGUE)["records"]:
        for name in when_answers(record.get("when")):
            readers.setdefault(name, set()).add("adrs.py")
    for entries in load_yaml(REGISTERS).values():
        for entry in entries:
            for condition in [entry.get("when"), *(case.get("when") for case in entry.get("cases", []))]:
                for name in when_answers(condition):
                    readers.setdefault(name, set()).add("registers.py")
    for name in nested_when_answers(load_yaml(COMPLIANCE)):
        readers.setdefault(name, set()).add("compliance.py")
    for name, spec in questions().items():
        if re.search(rf"""\bcheck\(\s*['"]{re.escape(name)}['"]""", str(spec.get("validator", ""))):
            readers.setdefault(name, set()).add("validators.py")
    return {name: sorted(modules) for name, modules in readers.items()}


# ---------------------------------------------------------------------------------------- renders


def variations() -> list[Any]:
    """tests/matrix.py's defaults and one-option variations (Combination: id, answers)."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from matrix import variation_combinations

    return list(variation_combinations())


def template_copy(base: Path) -> Path:
    """A plain copy of the template's working tree (what copier reads), edits included."""
    source = base / "template-src"
    source.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        origin = REPO / part
        if origin.is_dir():
            shutil.copytree(origin, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / part)
    return source


def render(template: str, destination: str, answers: dict[str, Any]) -> str:
    """One render (run in a worker process)."""
    from copier import run_copy

    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    run_copy(template, destination, data=answers, defaults=True, unsafe=True, quiet=True, overwrite=True)
    return destination


def render_all(base: Path, combinations: Iterable[Any]) -> dict[str, Path]:
    """{combination id: its render under base}, two renders at a time."""
    template = template_copy(base)
    combos = list(combinations)
    with ProcessPoolExecutor(2) as pool:
        futures = {combo.id: pool.submit(render, str(template), str(base / "renders" / combo.id), combo.answers)
                   for combo in combos}
        return {combo_id: Path(future.result()) for combo_id, future in futures.items()}


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: content hash} of every file of a render."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not {".git", "node_modules"} & set(path.relative_to(root).parts):
            result[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def differences(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """{path: 'added' | 'removed' | 'changed'} between two snapshots."""
    result = {path: "removed" for path in before.keys() - after.keys()}
    result |= {path: "added" for path in after.keys() - before.keys()}
    result |= {path: "changed" for path in before.keys() & after.keys() if before[path] != after[path]}
    return result


def grouped(paths: Mapping[str, str]) -> str:
    """Six paths or fewer listed (added/removed marked), more counted per top-level directory."""
    if not paths:
        return "no file"
    if len(paths) <= LIST_AT_MOST:
        return ", ".join(f"`{path}`" + ("" if how == "changed" else f" ({how})") for path, how in sorted(paths.items()))
    counts: dict[str, int] = {}
    for path in paths:
        top = path.split("/", 1)[0] + "/" if "/" in path else "top level"
        counts[top] = counts.get(top, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (item[0] == "top level", item[0]))
    return f"{len(paths)} files: " + ", ".join(
        f"{top} ({count})" if top == "top level" else f"`{top}` ({count})" for top, count in ordered)


# ---------------------------------------------------------------------------------------- free text


def prints(name: str, text: str) -> bool:
    """`{{ <name>` or `<name> |` in a template source."""
    pattern = rf"\{{\{{-?\s*{re.escape(name)}\b|(?<![\w.]){re.escape(name)}\s*\|"
    return re.search(pattern, text) is not None


def jinja_sources() -> dict[Path, str]:
    """The sources that copier renders: template/**/*.jinja and every file of includes/."""
    sources = [path for path in TEMPLATE.rglob("*.jinja") if path.is_file()]
    sources += [path for path in INCLUDES.rglob("*") if path.is_file()]
    return {path: path.read_text(encoding="utf-8") for path in sorted(sources)}


def included(text: str) -> set[Path]:
    """The includes a source pulls in: 'includes/...' strings (a prefix such as 'includes/adr/' ~ key
    stands for every file under it)."""
    result: set[Path] = set()
    for reference in re.findall(r"""['"](includes/[^'"]*)['"]""", text):
        if reference.endswith(".jinja"):
            result.add(REPO / reference)
        else:
            result |= {path for path in INCLUDES.rglob("*") if path.is_file()
                       and path.relative_to(REPO).as_posix().startswith(reference)}
    return result


def printing_templates(name: str, sources: Mapping[Path, str]) -> list[Path]:
    """The template/ files that print an answer themselves or through an include (transitively)."""
    printing = {path for path, text in sources.items() if prints(name, text)}
    changed = True
    while changed:
        changed = False
        for path, text in sources.items():
            if path not in printing and included(text) & printing:
                printing.add(path)
                changed = True
    return sorted(path for path in printing if TEMPLATE in path.parents)


def path_pattern(template_path: Path) -> re.Pattern[str]:
    """The rendered paths a template file's name can produce, as a regular expression: `{% if %}`
    branches become alternatives (or nothing), `{{ x }}` one path segment (`{{ x.path }}`, several),
    a `{% yield %}` its body."""
    name = template_path.relative_to(TEMPLATE).as_posix().removesuffix(".jinja")
    tokens = [token for token in re.split(r"(\{%-?.*?-?%\}|\{\{-?.*?-?\}\})", name) if token]
    answers_file = str(load_yaml(REPO / "copier.yml")["_answers_file"])

    def parse(index: int, stop: set[str]) -> tuple[str, int, str | None]:
        parts: list[str] = []
        while index < len(tokens):
            token = tokens[index]
            if token.startswith("{%"):
                word = token[2:-2].strip("- ").split()[0]
                if word in stop:
                    return "".join(parts), index, word
                if word == "if":
                    branches, index, has_else = [], index + 1, False
                    while True:
                        body, index, end = parse(index, {"elif", "else", "endif"})
                        branches.append(body)
                        has_else = has_else or end == "else"
                        index += 1
                        if end == "endif":
                            break
                    parts.append("(?:" + "|".join(branches + ([] if has_else else [""])) + ")")
                elif word == "yield":
                    body, index, _ = parse(index + 1, {"endyield"})
                    parts.append(body)
                    index += 1
                else:
                    raise ValueError(f"{template_path}: no pattern for {token}")
            elif token.startswith("{{"):
                expression = token[2:-2].strip("- ")
                if "answers_file" in expression:
                    parts.append(re.escape(answers_file))
                else:
                    parts.append(".+" if expression.endswith("path") else "[^/]+")
                index += 1
            else:
                parts.append(re.escape(token))
                index += 1
        return "".join(parts), index, None

    return re.compile(parse(0, set())[0])


def printed_files(name: str, sources: Mapping[Path, str], rendered_paths: set[str]) -> dict[str, str]:
    """{rendered path: 'prints'} for every path of any render that a printing template produces."""
    patterns = [path_pattern(path) for path in printing_templates(name, sources)]
    return {path: "changed" for path in rendered_paths if any(p.fullmatch(path) for p in patterns)}


# ---------------------------------------------------------------------------------------- the table


def answer_table(renders: Mapping[str, Path]) -> str:
    """The Markdown table, from the renders of `variations()` ({combination id: directory})."""
    snapshots = {combo_id: snapshot(path) for combo_id, path in renders.items()}
    base = snapshots[DEFAULTS_ID]
    rendered_paths = set().union(*snapshots.values())
    by_question: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for combo in variations():
        if combo.id == DEFAULTS_ID:
            continue
        question = next(iter(combo.answers))
        value = combo.id.removeprefix(question + "-")
        by_question.setdefault(question, []).append((value, differences(base, snapshots[combo.id])))
    readers = model_readers()
    sources = jinja_sources()
    rows = [HEADER]
    for name in questions():
        modules = ", ".join(readers.get(name, [])) or "none"
        if name in by_question:
            cells = [f"`{value}`: {grouped(changes) if changes else 'same as the defaults'}"
                     for value, changes in by_question[name]]
            files = "<br>".join(cells)
        else:
            printed = printed_files(name, sources, rendered_paths)
            files = f"printed directly by {grouped(printed)}" if printed else "no template prints it directly"
        rows.append(f"| `{name}` | {modules} | {files} |")
    return "\n".join(rows) + "\n"


def compute() -> str:
    with tempfile.TemporaryDirectory(prefix="answer-map-") as tmp:
        return answer_table(render_all(Path(tmp), variations()))


def read_block(text: str) -> str | None:
    """The text between the answer-map markers, or None without them."""
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.DOTALL)
    return None if match is None else match.group(1)


def replace_block(text: str, table: str) -> str:
    if read_block(text) is None:
        raise SystemExit(f"{CONTRIBUTING.name} has no {START} ... {END} block")
    return re.sub(re.escape(START) + r"\n.*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text,
                  count=1, flags=re.DOTALL)


def rows(table: str) -> dict[str, str]:
    """{question: its row} of a table."""
    result = {}
    for line in table.splitlines():
        match = re.match(r"\| `([^`]+)` \|", line)
        if match:
            result[match.group(1)] = line
    return result


def differing_rows(current: str, expected: str) -> list[str]:
    """The questions whose row differs (or is missing on one side), in copier.yml's order."""
    have, want = rows(current), rows(expected)
    names = [*want, *(name for name in have if name not in want)]
    return [name for name in names if have.get(name) != want.get(name)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the table into CONTRIBUTING.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when CONTRIBUTING.md's table is not current")
    args = parser.parse_args()
    started = time.monotonic()
    table = compute()
    print(f"answer map computed in {time.monotonic() - started:.1f} s", file=sys.stderr)
    if args.write:
        CONTRIBUTING.write_text(replace_block(CONTRIBUTING.read_text(encoding="utf-8"), table), encoding="utf-8")
        print(f"wrote the answer map into {CONTRIBUTING.name}", file=sys.stderr)
    elif args.check:
        current = read_block(CONTRIBUTING.read_text(encoding="utf-8"))
        if current is None:
            raise SystemExit(f"{CONTRIBUTING.name} has no {START} ... {END} block")
        stale = differing_rows(current, table) or (["(the table's text)"] if current != table else [])
        if stale:
            print(f"{CONTRIBUTING.name}'s answer map is not current; rows that differ: {', '.join(stale)}. "
                  "Run: .venv/bin/python scripts/answer_map.py --write", file=sys.stderr)
            raise SystemExit(1)
        print(f"{CONTRIBUTING.name}'s answer map is current", file=sys.stderr)
    else:
        print(table, end="")


if __name__ == "__main__":
    main()
