"""Checks on every render of the matrix: it renders, nothing is left unrendered, every YAML and JSON
file parses and passes yamllint, the Backstage entities validate, the answers file holds answers only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import TESTS, copier_questions, files, load_yaml, require_node_package, run, tool
from matrix import Combination, all_combinations, covered_values

UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")
YAML_SUFFIXES = (".yml", ".yaml")


def test_matrix_covers_every_choice_value() -> None:
    questions = copier_questions()
    covered = covered_values()
    for name, values in covered.items():
        spec = questions[name]
        expected = {c["value"] if isinstance(c, dict) else c for c in spec["choices"].values()}
        assert expected <= values, f"{name}: values never rendered: {sorted(expected - values)}"


def test_examples_cover_every_choice_value() -> None:
    questions = copier_questions()
    examples = [c for c in all_combinations() if c.id.startswith("example-")]
    assert len(examples) >= 6
    for name, spec in questions.items():
        if "choices" not in spec:
            continue
        expected = {c["value"] if isinstance(c, dict) else c for c in spec["choices"].values()}
        seen: set[Any] = set()
        for combo in examples:
            value = combo.answers[name]
            seen.update(value if isinstance(value, list) else [value])
        assert expected <= seen, f"examples never choose {name}={sorted(expected - seen)}"


def test_renders(rendered: Path) -> None:
    assert (rendered / ".copier-answers.yml").is_file()
    assert (rendered / "README.md").is_file()


def test_nothing_left_unrendered(rendered: Path) -> None:
    leftovers = []
    for path in files(rendered):
        if path.name.endswith(".jinja"):
            leftovers.append(f"{path.relative_to(rendered)}: template suffix left in the output")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if UNRENDERED.search(line):
                leftovers.append(f"{path.relative_to(rendered)}:{number}: {line.strip()}")
    assert not leftovers, "\n".join(leftovers)


def test_yaml_files_parse(rendered: Path) -> None:
    yaml_files = list(files(rendered, *YAML_SUFFIXES))
    assert yaml_files, "a render without YAML files cannot be right"
    for path in yaml_files:
        with path.open(encoding="utf-8") as handle:
            list(yaml.safe_load_all(handle))


def test_yamllint(rendered: Path) -> None:
    yaml_files = [str(p) for p in files(rendered, *YAML_SUFFIXES)]
    result = run([tool("yamllint"), "-c", str(TESTS / "yamllint.yml"), "-f", "parsable", *yaml_files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_json_files_parse(rendered: Path) -> None:
    for path in files(rendered, ".json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_catalog_entities_validate(rendered: Path) -> None:
    require_node_package("@backstage/catalog-model")
    catalog = rendered / "catalog-info.yaml"
    with catalog.open(encoding="utf-8") as handle:
        entities = [doc for doc in yaml.safe_load_all(handle) if doc]
    assert {e["kind"] for e in entities} == {"Component", "API"}
    component = next(e for e in entities if e["kind"] == "Component")
    annotations = component["metadata"]["annotations"]
    assert annotations["backstage.io/techdocs-ref"] == "dir:."
    assert annotations["backstage.io/adr-location"] == "docs/adr"
    assert set(component["spec"]["providesApis"]) == {e["metadata"]["name"] for e in entities if e["kind"] == "API"}
    payload = json.dumps([{"file": str(catalog), "entities": entities}])
    result = run_node_stdin(TESTS / "node" / "validate-catalog.mjs", payload)
    assert result.returncode == 0, result.stdout + result.stderr


def run_node_stdin(script: Path, stdin: str) -> Any:
    import subprocess

    return subprocess.run(
        [tool("node"), str(script)], input=stdin, capture_output=True, text=True, cwd=script.parent,
        timeout=120, check=False,
    )


def test_answers_file_holds_answers_only(rendered: Path, combination: Combination) -> None:
    answers = load_yaml(rendered / ".copier-answers.yml")
    questions = copier_questions()
    stored = {k for k in answers if not k.startswith("_")}
    assert stored == set(questions), f"extra: {stored - set(questions)}, missing: {set(questions) - stored}"
    for name, value in combination.answers.items():
        if questions[name].get("multiselect"):
            # copier stores a multiselect answer in the order of the choices
            assert sorted(answers[name]) == sorted(value), f"{name}: answered {value!r}, stored {answers[name]!r}"
        else:
            assert answers[name] == value, f"{name}: answered {value!r}, stored {answers[name]!r}"


def test_conditional_files_follow_answers(rendered: Path) -> None:
    answers = load_yaml(rendered / ".copier-answers.yml")
    assert (rendered / "package.json").exists() == answers["include_app"]
    assert (rendered / ".github").exists() == (answers["ci"] == "github")
    assert (rendered / ".gitlab-ci.yml").exists() == (answers["ci"] == "gitlab")


@pytest.mark.parametrize("name", ["example-media-monolith-gcp"])
def test_free_text_reaches_the_outputs_intact(renderer: Any, name: str) -> None:
    combo = next(c for c in all_combinations() if c.id == name)
    out = renderer.render(combo.id, combo.answers)
    catalog = list(yaml.safe_load_all((out / "catalog-info.yaml").read_text(encoding="utf-8")))
    assert catalog[0]["metadata"]["title"] == combo.answers["project_name"]
    assert catalog[0]["metadata"]["description"] == combo.answers["description"]
    mkdocs = load_yaml(out / "mkdocs.yml")
    assert mkdocs["site_name"] == combo.answers["project_name"]
    package = json.loads((out / "package.json").read_text(encoding="utf-8"))
    assert package["description"] == combo.answers["description"]


def test_readme_documents_every_npm_script(rendered: Path) -> None:
    """The generated README tells how to run each npm script against docker compose: one row per
    script of package.json, and the compose command names exactly the backing servers compose has."""
    readme = (rendered / "README.md").read_text(encoding="utf-8")
    package = rendered / "package.json"
    rows = re.findall(r"^\| `npm run ([\w:-]+)` \| (.+?) \| (.+?) \|$", readme, flags=re.MULTILINE)
    if not package.is_file():
        assert rows == [] and "## npm scripts" not in readme
        return
    scripts = json.loads(package.read_text(encoding="utf-8"))["scripts"]
    names = [name for name, _, _ in rows]
    assert len(names) == len(set(names)) and set(names) == set(scripts), "README rows and package.json scripts differ"
    assert all(purpose.strip() and needs.strip() for _, purpose, needs in rows)
    compose = load_yaml(rendered / "docker-compose.yml")["services"]
    started = re.search(r"^docker compose up -d --wait (.+)$", readme, flags=re.MULTILINE)
    assert started, "the README starts the backing servers with docker compose"
    backing = started.group(1).split()
    assert backing and all(name in compose for name in backing), (backing, sorted(compose))
    assert all("build" not in compose[name] for name in backing), "only servers, not the app, for npm scripts"
