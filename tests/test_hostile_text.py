"""Hostile free text: names and descriptions full of YAML, JSON, Markdown and template syntax still
produce outputs that parse and say exactly the same text."""

from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from copier import run_copy
from helpers import Renderer, files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from extensions.playbook import validators

TRICKY_FRAGMENTS = [
    '"', "'", ":", ": ", "#", " #", "{{ x }}", "{% raw %}", "${{ github.token }}", "\\", "\\n", "`", "*", "_",
    "[a](b)", "<b>", "|", "&amp;", "- ", "1. ", "> ", "!", "%", "@", "---", "...", "🎉", "👩‍💻", "Ωμέγα",
    "名前", "مرحبا", "Ünïcödé", "\u00a0", "  ",
]
fragment = st.one_of(
    st.sampled_from(TRICKY_FRAGMENTS),
    st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=8),
)


def hostile_text(max_size: int) -> st.SearchStrategy[str]:
    return (
        st.lists(fragment, min_size=1, max_size=8)
        .map("".join)
        .filter(lambda s: s.strip() != "" and len(s) <= max_size)
    )


markdown = MarkdownIt("commonmark")

# TypeScript sources are checked by the app's own build (tests/test_app_e2e.py); leaving them out
# keeps 200 renders affordable. Every YAML, JSON and Markdown file is still rendered and checked.
NOT_CHECKED_HERE = ("*.ts", "*.cjs", "*.mjs", "*.proto", "*.sql")


def markdown_text(source: str) -> str:
    """The visible text of rendered Markdown, tags stripped and entities decoded."""
    rendered = markdown.render(source)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def check_outputs(out: Path, name: str, description: str) -> None:
    for path in files(out, ".yml", ".yaml"):
        with path.open(encoding="utf-8") as handle:
            list(yaml.safe_load_all(handle))
    for path in files(out, ".json"):
        json.loads(path.read_text(encoding="utf-8"))

    catalog = [d for d in yaml.safe_load_all((out / "catalog-info.yaml").read_text(encoding="utf-8")) if d]
    assert catalog[0]["metadata"]["title"] == name
    assert catalog[0]["metadata"]["description"] == description
    assert yaml.safe_load((out / "mkdocs.yml").read_text(encoding="utf-8"))["site_name"] == name
    package = json.loads((out / "package.json").read_text(encoding="utf-8"))
    assert package["description"] == description

    for document in ("README.md", "docs/index.md"):
        source = (out / document).read_text(encoding="utf-8")
        lines = source.split("\n")
        assert lines[0].startswith("# ")
        assert markdown_text(lines[0]).strip() == name.strip(), document
        assert markdown_text(lines[2]).strip() == description.strip(), document


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(name=hostile_text(80), description=hostile_text(300))
def test_hostile_free_text_round_trips(renderer: Renderer, name: str, description: str) -> None:
    assert validators.check("project_name", name) == ""
    assert validators.check("description", description) == ""
    out = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        answers: dict[str, Any] = {"project_name": name, "description": description, "project_slug": "hostile"}
        run_copy(str(renderer.template_source()), str(out), data=answers, defaults=True, unsafe=True, quiet=True,
                 exclude=list(NOT_CHECKED_HERE))
        check_outputs(out, name, description)
    finally:
        shutil.rmtree(out, ignore_errors=True)
