"""Copier's entry points: filters and globals, and the context hook.

copier.yml loads this file by path (`extensions/jinja_ext.py:...`), so during `copier update` the
old template version replays with its own copy. `derive.py` is loaded the same way, under a
module name unique to its path, so two template versions in one process never share it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment, FileSystemBytecodeCache
from jinja2.ext import Extension


def _load_derive() -> ModuleType:
    path = Path(__file__).resolve().with_name("derive.py")
    name = f"_nest_playbook_derive_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


derive = _load_derive()


class TemplateBytecodeCache(FileSystemBytecodeCache):
    """Jinja's on-disk bytecode cache, keyed by template name instead of file path.

    Copier clones the template into a new temporary directory on every run, so Jinja's default
    key (which includes the path) never hits. Compiling is most of a render's cost; a hit still
    requires the same source text (Jinja compares a checksum), the same Jinja version and the same
    set of extensions, so a changed template or setup simply compiles again.
    """

    def __init__(self, directory: Path, environment: Environment) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(str(directory), "%s.cache")
        self.environment = environment

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        extensions = "|".join(sorted(self.environment.extensions))  # complete once the environment is built
        return hashlib.sha256(f"{extensions}|{name}".encode()).hexdigest()


def bytecode_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nest-playbook-template" / "jinja"


class PlaybookFilters(Extension):
    """Registers the pure helpers of derive.py as Jinja filters and globals, and the bytecode cache."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(derive.FILTERS)
        environment.globals.update(derive.GLOBALS)
        if environment.bytecode_cache is None and not os.environ.get("NEST_PLAYBOOK_NO_BYTECODE_CACHE"):
            try:
                environment.bytecode_cache = TemplateBytecodeCache(bytecode_cache_dir(), environment)
            except OSError:
                pass  # a read-only home only costs speed


class PlaybookContext(ContextHook):
    """Adds the derived values (stack, modules, services, ADRs, ...) once the answers are complete."""

    def hook(self, context: dict[str, Any]) -> None:
        derived = derive.derive_context(context)
        if derived is not None:
            context.update(derived)
