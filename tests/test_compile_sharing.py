"""Unit tests of what keeps a render cheap: one Jinja compile per source and process, shared by the
environments of every template clone (extensions/playbook/compile.py) but never across extension
code or data that changes the compiled code; one model per distinct set of answers; the YAML loader
of the data files."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import EXAMPLES, REPO, load_yaml

from extensions.playbook import compile as compile_sharing
from extensions.playbook import data, model

EXTENSIONS = REPO / "extensions"


@pytest.fixture(autouse=True)
def private_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process store of this test's own."""
    monkeypatch.delitem(sys.modules, compile_sharing.STORE_MODULE, raising=False)
    monkeypatch.delenv(compile_sharing.OPT_OUT_VARIABLE, raising=False)


def environment(*extensions: Any, **options: Any) -> Any:
    from copier._jinja_ext import YieldExtension
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(extensions=[YieldExtension, *extensions], keep_trailing_newline=True, **options)


# --------------------------------------------------------------------------- YAML data files


@pytest.mark.parametrize("name", ["stack", "industries", "clouds", "adrs"])
def test_data_files_read_alike_with_libyaml_and_pure_python(name: str) -> None:
    text = (EXTENSIONS / "data" / f"{name}.yml").read_text(encoding="utf-8")
    assert yaml.load(text, Loader=data.YAML_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)
    if getattr(yaml, "__with_libyaml__", False):
        assert data.YAML_LOADER is yaml.CSafeLoader


# --------------------------------------------------------------------------- the context hook


def full_answers(**overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = load_yaml(EXAMPLES / "healthcare-modular-aws.yml")
    answers.update(overrides)
    return answers


def test_context_is_built_once_per_set_of_answers() -> None:
    answers = full_answers()
    first = model.context(answers)
    assert first is not None
    context = {**answers, "_copier_conf": object(), "_folder_name": "x"}  # what copier's contexts look like
    assert model.context(context) is first


def test_context_follows_changed_answers() -> None:
    answers = full_answers()
    first = model.context(answers)
    renamed = model.context(full_answers(project_slug="other-slug"))
    assert renamed is not None and renamed["delivery"]["services"][0]["image"].endswith("/other-slug")
    assert model.context(answers) is first, "old and new answers alternate within one `copier update`"
    answers["bounded_contexts"].append("billing")
    after = model.context(answers)
    assert after is not None and after is not first and after["modules"][-1]["slug"] == "billing"


def test_context_keeps_json_distinct_answers_apart() -> None:
    as_float = model.context(full_answers(slo_availability=99.5, p95_latency_ms=300))
    as_int = model.context(full_answers(slo_availability=99.5, p95_latency_ms=300.0))
    assert as_float is not as_int  # 300 and 300.0 are equal in Python, not in the JSON key


def test_context_waits_for_all_answers() -> None:
    assert model.context({"project_name": "x"}) is None
    incomplete = full_answers()
    del incomplete["coverage_threshold"]
    assert model.context(incomplete) is None


# --------------------------------------------------------------------------- what the shared compile keys on


def extension_copy(tmp_path: Path, name: str, pin: str | None = None) -> types.ModuleType:
    """extensions/context.py of a copy of the extensions directory (optionally with another checkout
    pin), loaded by path like copier does."""
    from importlib.util import module_from_spec, spec_from_file_location

    directory = tmp_path / name / "extensions"
    shutil.copytree(EXTENSIONS, directory, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if pin is not None:
        stack = directory / "data" / "stack.yml"
        original = data.stack_manifest()["actions"]["checkout"]["sha"]
        stack.write_text(stack.read_text(encoding="utf-8").replace(original, pin), encoding="utf-8")
    spec = spec_from_file_location(f"probe_context_{name}", directory / "context.py")
    assert spec and spec.loader
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_changed_data_file_compiles_again(tmp_path: Path) -> None:
    """Jinja runs `action_ref` on a constant at compile time: the pin is part of the compiled code."""
    from jinja2 import FileSystemLoader

    new_pin = "1" * 40
    old, new = extension_copy(tmp_path, "old"), extension_copy(tmp_path, "new", pin=new_pin)
    source = "uses: {{ 'checkout' | action_ref }}"
    old_pin = data.stack_manifest()["actions"]["checkout"]["sha"]
    assert old_pin in environment(old.Playbook).from_string(source).render()
    assert new_pin in environment(new.Playbook).from_string(source).render()

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ci.yml.jinja").write_text(source + "\n", encoding="utf-8")
    rendered = [
        environment(module.Playbook, loader=FileSystemLoader(str(templates))).get_template("ci.yml.jinja").render()
        for module in (old, new, old)
    ]
    assert old_pin in rendered[0] and new_pin in rendered[1] and old_pin in rendered[2]


def test_equal_extension_copies_share_compiled_code(tmp_path: Path) -> None:
    """Two clones of one release (as in `copier update`) share code: the path does not matter."""
    first, second = extension_copy(tmp_path, "first"), extension_copy(tmp_path, "second")
    a, b = environment(first.Playbook), environment(second.Playbook)
    assert a.compile("{{ 'x' | kebab_case }}") is b.compile("{{ 'x' | kebab_case }}")


def test_opting_out_compiles_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = extension_copy(tmp_path, "plain")
    monkeypatch.setenv(compile_sharing.OPT_OUT_VARIABLE, "1")
    a, b = environment(module.Playbook), environment(module.Playbook)
    assert a.compile("{{ x }}") is not b.compile("{{ x }}")


def test_fingerprint_follows_filters_and_how_they_take_the_context() -> None:
    from jinja2 import pass_context

    def shout(value: str) -> str:
        return value.upper()

    plain, other = environment(), environment()
    plain.filters["shout"] = shout
    other.filters["shout"] = pass_context(lambda context, value: value.upper())
    assert compile_sharing.fingerprint(plain, "d") != compile_sharing.fingerprint(other, "d")
    same = environment()
    same.filters["shout"] = shout
    assert compile_sharing.fingerprint(plain, "d") == compile_sharing.fingerprint(same, "d")
    assert compile_sharing.fingerprint(plain, "d") != compile_sharing.fingerprint(same, "another digest")
