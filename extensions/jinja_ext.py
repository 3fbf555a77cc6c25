"""Copier's entry points: filters and globals, and the context hook.

copier.yml loads this file by path (`extensions/jinja_ext.py:...`), so during `copier update` the
old template version replays with its own copy. `derive.py` is loaded the same way, under a
module name unique to its path, so two template versions in one process never share it.
"""

from __future__ import annotations

import hashlib
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment
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


class PlaybookFilters(Extension):
    """Registers the pure helpers of derive.py as Jinja filters and globals."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(derive.FILTERS)
        environment.globals.update(derive.GLOBALS)


class PlaybookContext(ContextHook):
    """Adds the derived values (stack, modules, services, ADRs, ...) once the answers are complete."""

    def hook(self, context: dict[str, Any]) -> None:
        derived = derive.derive_context(context)
        if derived is not None:
            context.update(derived)
