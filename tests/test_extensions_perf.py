"""Unit tests of the speed-ups in extensions/: the on-disk caches of compiled code (strings copier
renders, template bytecode, derive.py), what invalidates them, the fast path of the context hook
and the YAML loader of the data files."""

from __future__ import annotations

import copy
import multiprocessing
import os
import shutil
import sys
import time
import types
from collections.abc import Iterator
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from helpers import EXAMPLES, REPO, load_yaml

from extensions import compile_cache, derive

EXTENSIONS = REPO / "extensions"


@pytest.fixture(autouse=True)
def private_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache directory and an in-process store of this test's own."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv(compile_cache.NO_DISK_CACHE_VARIABLE, raising=False)
    monkeypatch.delitem(sys.modules, compile_cache.STORE_MODULE, raising=False)
    yield cache_home / "nest-playbook-template"


def load_by_path(path: Path, name: str) -> types.ModuleType:
    """Load a module from a file the way copier_template_extensions does."""
    spec = spec_from_file_location(name, path)
    assert spec and spec.loader
    module = module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def environment(*extensions: Any, **options: Any) -> Any:
    from copier._jinja_ext import YieldExtension
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(extensions=[YieldExtension, *extensions], keep_trailing_newline=True, **options)


def forget_process_store() -> None:
    """What a new process starts with: an empty in-process store (the disk stays)."""
    sys.modules.pop(compile_cache.STORE_MODULE, None)


# --------------------------------------------------------------------------- YAML data files


@pytest.mark.parametrize("name", ["stack", "industries"])
def test_data_files_read_alike_with_libyaml_and_pure_python(name: str) -> None:
    text = (EXTENSIONS / "data" / f"{name}.yml").read_text(encoding="utf-8")
    assert yaml.load(text, Loader=derive.YAML_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)
    if getattr(yaml, "__with_libyaml__", False):
        assert derive.YAML_LOADER is yaml.CSafeLoader


# --------------------------------------------------------------------------- the context hook


def full_answers(**overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = load_yaml(EXAMPLES / "healthcare-modular-aws.yml")
    answers.update(overrides)
    return answers


def test_derive_context_reuses_the_result_for_the_same_answer_objects() -> None:
    answers = full_answers()
    first = derive.derive_context(answers)
    assert first is not None
    context = {**answers, "_copier_conf": object(), "_folder_name": "x"}  # what copier's contexts look like
    with mock.patch.object(derive, "_derive_cached", side_effect=AssertionError("no key needed")):
        assert derive.derive_context(context) is first


def test_derive_context_follows_changed_answers() -> None:
    answers = full_answers()
    first = derive.derive_context(answers)
    assert first is not None
    renamed = derive.derive_context(full_answers(project_slug="other-slug"))
    assert renamed is not None and renamed["image"].endswith("/other-slug")
    # old and new answers alternate within one `copier update`
    assert derive.derive_context(answers) is first
    assert derive.derive_context(answers) is first


def test_derive_context_sees_a_list_answer_changed_in_place() -> None:
    answers = full_answers(bounded_contexts=["patients", "records"])
    before = derive.derive_context(answers)
    assert before is not None
    answers["bounded_contexts"].append("billing")
    after = derive.derive_context(answers)
    assert after is not None and after is not before
    assert [m["slug"] for m in after["modules"]][-1:] == ["billing"]
    assert after == derive.derive(copy.deepcopy(answers)).as_context()


def test_derive_context_keeps_json_distinct_answers_apart() -> None:
    as_float = derive.derive_context(full_answers(slo_availability=99.5, p95_latency_ms=300))
    as_int = derive.derive_context(full_answers(slo_availability=99.5, p95_latency_ms=300.0))
    assert as_float is not as_int  # 300 and 300.0 are equal in Python, not in the JSON key


def test_derive_context_keys_other_value_types_every_time() -> None:
    class Flag:
        """An answer object whose JSON form can change while it stays the same object."""

        def __init__(self, value: bool) -> None:
            self.value = value

        def __str__(self) -> str:
            return str(self.value)

    answers = full_answers(cqrs=Flag(True))
    with mock.patch.object(derive, "_derive_cached", wraps=derive._derive_cached) as keyed:
        derive.derive_context(answers)
        answers["cqrs"].value = False
        derive.derive_context(answers)
    assert keyed.call_count == 2
    assert keyed.call_args_list[0] != keyed.call_args_list[1]


def test_derive_context_waits_for_all_answers() -> None:
    assert derive.derive_context({"project_name": "x"}) is None
    incomplete = full_answers()
    del incomplete["coverage_threshold"]
    assert derive.derive_context(incomplete) is None


# --------------------------------------------------------------------------- the on-disk code store


def sample_code() -> types.CodeType:
    return compile("x = 40 + 2\ndef f():\n    return x\n", "<sample>", "exec")


def test_code_store_round_trip(tmp_path: Path) -> None:
    store = compile_cache.CodeStore(tmp_path / "codes")
    assert store.load("k" * 64) is None
    store.save("k" * 64, sample_code())
    namespace: dict[str, Any] = {}
    code = store.load("k" * 64)
    assert code is not None
    exec(code, namespace)
    assert namespace["f"]() == 42
    assert not [p for p in (tmp_path / "codes").iterdir() if p.suffix == ".tmp"], "no temporary file left"


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty", "other-key", "not-code"])
def test_code_store_rejects_damaged_files(tmp_path: Path, damage: str) -> None:
    store = compile_cache.CodeStore(tmp_path)
    key = "a" * 64
    store.save(key, sample_code())
    path = store.path(key)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-7])
    elif damage == "flip":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    elif damage == "header":
        path.write_bytes(b"X" + data[1:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other-key":
        store.save("b" * 64, sample_code())
        shutil.copyfile(store.path("b" * 64), path)
    elif damage == "not-code":
        import marshal

        payload = marshal.dumps({"a": 1})
        header = store.prefix + key.encode() + b"\n"
        path.write_bytes(header + compile_cache._checksum(payload) + payload)
    assert store.load(key) is None


def test_code_store_never_fails_the_render(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    store = compile_cache.CodeStore(blocker / "codes")
    store.save("c" * 64, sample_code())  # cannot create the directory: no error
    assert store.load("c" * 64) is None


def _write_many(directory: str, rounds: int) -> None:
    store = compile_cache.CodeStore(Path(directory))
    for _ in range(rounds):
        store.save("d" * 64, sample_code())
        code = store.load("d" * 64)
        assert code is None or isinstance(code, types.CodeType)


def test_code_store_concurrent_writers(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    workers = [context.Process(target=_write_many, args=(str(tmp_path), 60)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert compile_cache.CodeStore(tmp_path).load("d" * 64) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["d" * 64 + ".code"]


# --------------------------------------------------------------------------- strings compiled across processes


def test_strings_compile_once_across_processes(private_caches: Path) -> None:
    from copier._jinja_ext import get_yield_context
    from jinja2 import Environment

    source = "{% yield x from items %}{{ x }}-{{ suffix }}{% endyield %}"
    first = environment(compile_cache.SharedCompileCache)
    first.from_string(source)
    stored = list((private_caches / "strings").glob("*.code"))
    assert len(stored) == 1

    forget_process_store()
    second = environment(compile_cache.SharedCompileCache)
    with mock.patch.object(Environment, "_parse", side_effect=AssertionError("parsed again")):
        template = second.from_string(source)
        template.render(items=[1, 2], suffix="a")
        assert get_yield_context(second).yield_name == "x"
        second.from_string(source)  # a reused compile still resets the yield state (preprocess)
        assert get_yield_context(second).yield_name is None
    template.render(items=[3], suffix="b")
    assert get_yield_context(second).yield_iterable == [3]


def test_damaged_string_cache_compiles_again(private_caches: Path) -> None:
    environment(compile_cache.SharedCompileCache).from_string("{{ a }}!")
    (path,) = (private_caches / "strings").glob("*.code")
    path.write_bytes(path.read_bytes()[:-5])
    forget_process_store()
    assert environment(compile_cache.SharedCompileCache).from_string("{{ a }}!").render(a="ok") == "ok!"
    assert compile_cache.CodeStore(path.parent).load(path.stem) is not None, "rewritten"


def test_opt_out_writes_nothing(private_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.NO_DISK_CACHE_VARIABLE, "1")
    env = environment(compile_cache.SharedCompileCache)
    assert env.from_string("{{ b }}").render(b=1) == "1"
    assert not private_caches.exists()


def test_template_files_stay_with_jinjas_bytecode_cache(private_caches: Path, tmp_path: Path) -> None:
    from jinja2 import FileSystemLoader

    (tmp_path / "page.jinja").write_text("{{ a }}\n", encoding="utf-8")
    env = environment(compile_cache.SharedCompileCache, loader=FileSystemLoader(str(tmp_path)))
    assert env.get_template("page.jinja").render(a=1) == "1\n"
    assert not (private_caches / "strings").exists()


# --------------------------------------------------------------------------- what invalidates compiled code


def extension_copy(tmp_path: Path, name: str, pin: str | None = None) -> types.ModuleType:
    """jinja_ext.py of a copy of the extensions directory (optionally with another checkout pin),
    loaded by path like copier does."""
    directory = tmp_path / name / "extensions"
    shutil.copytree(EXTENSIONS, directory, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if pin is not None:
        stack = directory / "data" / "stack.yml"
        original = derive.stack_manifest()["actions"]["checkout"]["sha"]
        stack.write_text(stack.read_text(encoding="utf-8").replace(original, pin), encoding="utf-8")
    return load_by_path(directory / "jinja_ext.py", f"probe_jinja_ext_{name}")


def playbook_environment(module: types.ModuleType, **options: Any) -> Any:
    return environment(compile_cache.SharedCompileCache, module.PlaybookFilters, **options)


def test_a_changed_data_file_compiles_again(tmp_path: Path) -> None:
    """Jinja runs `action_ref` on a constant at compile time: the pin is part of the compiled code."""
    from jinja2 import FileSystemLoader

    new_pin = "1" * 40
    old, new = extension_copy(tmp_path, "old"), extension_copy(tmp_path, "new", pin=new_pin)
    assert old.EXTENSIONS_DIGEST != new.EXTENSIONS_DIGEST
    source = "uses: {{ 'checkout' | action_ref }}"
    old_pin = derive.stack_manifest()["actions"]["checkout"]["sha"]
    assert old_pin in playbook_environment(old).from_string(source).render()
    assert new_pin in playbook_environment(new).from_string(source).render(), "same process"
    forget_process_store()
    assert new_pin in playbook_environment(new).from_string(source).render(), "from disk"

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ci.yml.jinja").write_text(source + "\n", encoding="utf-8")
    rendered = [
        playbook_environment(module, loader=FileSystemLoader(str(templates))).get_template("ci.yml.jinja").render()
        for module in (old, new, old)
    ]
    assert old_pin in rendered[0] and new_pin in rendered[1] and old_pin in rendered[2]


def test_fingerprint_follows_filters_and_how_they_take_the_context() -> None:
    from jinja2 import pass_context

    def shout(value: str) -> str:
        return value.upper()

    plain, other = environment(), environment()
    plain.filters["shout"] = shout
    other.filters["shout"] = pass_context(lambda context, value: value.upper())
    assert compile_cache.fingerprint(plain) != compile_cache.fingerprint(other)
    same = environment()
    same.filters["shout"] = shout
    assert compile_cache.fingerprint(plain) == compile_cache.fingerprint(same)
    setattr(same, compile_cache.EXTENSIONS_DIGEST_ATTRIBUTE, "another digest")
    assert compile_cache.fingerprint(plain) != compile_cache.fingerprint(same)


def test_equal_extension_copies_share_compiled_code(tmp_path: Path) -> None:
    """Two clones of one release (as in `copier update`) share code: the path does not matter."""
    first, second = extension_copy(tmp_path, "first"), extension_copy(tmp_path, "second")
    assert first.EXTENSIONS_DIGEST == second.EXTENSIONS_DIGEST
    a, b = playbook_environment(first), playbook_environment(second)
    assert a.compile("{{ 'x' | kebab_case }}") is b.compile("{{ 'x' | kebab_case }}")


# --------------------------------------------------------------------------- derive.py's compiled module


def test_derive_module_code_is_cached(private_caches: Path, tmp_path: Path) -> None:
    first = extension_copy(tmp_path, "one")
    (stored,) = (private_caches / "python").glob("*.code")
    second = extension_copy(tmp_path, "two")
    assert list((private_caches / "python").glob("*.code")) == [stored]
    assert second.derive.__file__ != first.derive.__file__
    assert second.derive.slugify.__code__.co_filename == second.derive.__file__, "tracebacks name the loaded file"
    assert second.derive.check("project_slug", "ok") == ""

    stored.write_bytes(stored.read_bytes()[:40])  # damaged: compiled again
    third = extension_copy(tmp_path, "three")
    assert third.derive.check("project_slug", "Bad")
    assert compile_cache.CodeStore(stored.parent).load(stored.stem) is not None


# --------------------------------------------------------------------------- pruning the disk caches

DAY = 24 * 3600


def cache_file(root: Path, name: str, last_used: float) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"cached")
    os.utime(path, (last_used, last_used))
    return path


def test_prune_deletes_only_files_unused_for_thirty_days(tmp_path: Path) -> None:
    now = 2_000_000_000.0
    stale = [cache_file(tmp_path, "strings/old.code", now - 31 * DAY),
             cache_file(tmp_path, "jinja/__jinja2_old.cache", now - 40 * DAY)]
    fresh = [cache_file(tmp_path, "strings/new.code", now - 29 * DAY),
             cache_file(tmp_path, "python/recent.code", now - 60)]
    assert compile_cache.prune_stale(tmp_path, now) == 2
    assert [path.exists() for path in stale + fresh] == [False, False, True, True]
    assert (tmp_path / compile_cache.PRUNE_MARKER).exists()


def test_prune_runs_once_a_day_at_most(tmp_path: Path) -> None:
    now = 2_000_000_000.0
    assert compile_cache.prune_stale(tmp_path, now) == 0
    stale = cache_file(tmp_path, "strings/old.code", now - 31 * DAY)
    assert compile_cache.prune_stale(tmp_path, now + DAY - 60) == 0
    assert stale.exists()
    assert compile_cache.prune_stale(tmp_path, now + DAY + 60) == 1
    assert not stale.exists()


def test_prune_never_fails_the_render(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    assert compile_cache.prune_stale(blocker / "cache", 2_000_000_000.0) == 0


def test_a_render_prunes_the_cache_root_once_per_process(private_caches: Path) -> None:
    stale = cache_file(private_caches, "strings/old.code", time.time() - 31 * DAY)
    environment(compile_cache.SharedCompileCache).from_string("{{ a }}")
    assert not stale.exists()
    stale = cache_file(private_caches, "strings/old.code", time.time() - 31 * DAY)
    (private_caches / compile_cache.PRUNE_MARKER).unlink()
    environment(compile_cache.SharedCompileCache).from_string("{{ b }}")
    assert stale.exists(), "pruned again in the same process"
