"""What copier loads (copier.yml names this file): the model as template context, the filters, and
one Jinja compile per source and process.

Copier loads this file by path, so during `copier update` an old template version replays with its
own copy. The `playbook` package beside it is loaded the same way, under a module name unique to its
path, so two template versions in one process never share it.
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

HERE = Path(__file__).resolve().parent


def load_package(directory: Path) -> ModuleType:
    """The package in `directory`, imported under a name unique to its path (its submodules follow)."""
    name = f"_nest_playbook_{hashlib.sha256(str(directory).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = spec_from_file_location(name, directory / "__init__.py", submodule_search_locations=[str(directory)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {directory}")
    package = module_from_spec(spec)
    sys.modules[name] = package
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules[name]
        raise
    return package


def submodule(package: ModuleType, name: str) -> ModuleType:
    full = f"{package.__name__}.{name}"
    if full not in sys.modules:
        __import__(full)
    return sys.modules[full]


playbook = load_package(HERE / "playbook")
filters = submodule(playbook, "filters")
model = submodule(playbook, "model")
compile_sharing = submodule(playbook, "compile")


class Playbook(ContextHook):
    """Adds the model to every context once the answers are complete; registers the filters."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(filters.FILTERS)
        environment.globals.update(filters.GLOBALS)
        compile_sharing.share_compiles(environment, HERE)

    def hook(self, context: dict[str, Any]) -> None:
        derived = model.context(context)
        if derived is not None:
            context.update(derived)
