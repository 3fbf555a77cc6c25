"""Copier's entry points: filters and globals, and the context hook.

copier.yml loads this file by path (`extensions/jinja_ext.py:...`), so during `copier update` the
old template version replays with its own copy. `derive.py` (and `compile_cache.py`, for its cache
helpers) is loaded the same way, under a module name unique to its path, so two template versions
in one process never share it.
"""

from __future__ import annotations

import hashlib
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment, FileSystemBytecodeCache
from jinja2.bccache import Bucket
from jinja2.ext import Extension

HERE = Path(__file__).resolve().parent


class CachedCodeLoader(SourceFileLoader):
    """Loads a module from a code object kept under ~/.cache/nest-playbook-template/python.

    Copier clones the template into a new temporary directory on every run, so Python's own
    __pycache__ next to the file never hits and derive.py (1,200 lines) compiled on every run, and
    once more per clone during `copier update`. The stored code is keyed by a hash of the source
    text and the Python bytecode version; tracebacks name the file that was loaded, as with a .pyc.
    """

    def __init__(self, fullname: str, path: str, store: Any) -> None:
        super().__init__(fullname, path)
        self.store = store

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        key = hashlib.sha256(source + f"\0{sys.flags.optimize}".encode()).hexdigest()  # python -O compiles differently
        code: CodeType | None = self.store.load(key)
        if code is None:
            code = self.source_to_code(source, path)
            self.store.save(key, code)
        elif code.co_filename != path:
            code = with_filename(code, path)
        return code


def with_filename(code: CodeType, filename: str) -> CodeType:
    """`code` and the code objects nested in it, naming `filename` (as importlib does for a .pyc)."""
    constants = tuple(with_filename(value, filename) if isinstance(value, CodeType) else value
                      for value in code.co_consts)
    return code.replace(co_filename=filename, co_consts=constants)


def _load_sibling(filename: str, code_store: Any = None) -> ModuleType:
    path = HERE / filename
    name = f"_nest_playbook_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    loader = None if code_store is None else CachedCodeLoader(name, str(path), code_store)
    spec = spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


compile_cache = _load_sibling("compile_cache.py")
derive = _load_sibling(
    "derive.py",
    compile_cache.CodeStore(compile_cache.cache_root() / "python") if compile_cache.disk_cache_enabled() else None,
)


def extensions_digest(directory: Path = HERE) -> str:
    """A hash of every file of the extensions directory (code and data), for the compile caches:
    Jinja runs filters on constant arguments at compile time (see compile_cache.py)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


EXTENSIONS_DIGEST = extensions_digest()


class TemplateBytecodeCache(FileSystemBytecodeCache):
    """Jinja's on-disk bytecode cache, keyed by template name instead of file path.

    Copier clones the template into a new temporary directory on every run, so Jinja's default
    key (which includes the path) never hits. Compiling is most of a render's cost; a hit still
    requires the same source text (Jinja compares a checksum), the same Jinja and Python versions,
    the same set of extensions, and the same filters, tests and extensions directory (Jinja bakes
    the result of a filter on constant arguments into the code: compile_cache.code_inputs), so a
    changed template, pin or setup simply compiles again.
    """

    def __init__(self, directory: Path, environment: Environment) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(str(directory), "%s.cache")
        self.environment = environment
        self.setup = ""  # computed at the first lookup, once all extensions and filters exist

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        if not self.setup:
            extensions = "|".join(sorted(self.environment.extensions))
            inputs = compile_cache.code_inputs(self.environment)
            self.setup = hashlib.sha256(repr((extensions, inputs)).encode()).hexdigest()
        return hashlib.sha256(f"{self.setup}|{name}".encode()).hexdigest()

    # The renders of one `copier update` each have an environment of their own: the first one reads
    # a template's code from disk, the others take it from the process-wide store of compile_cache.py.

    def load_bytecode(self, bucket: Bucket) -> None:
        store = compile_cache.shared_store()
        code = store.get(("bytecode", bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code
            return
        super().load_bytecode(bucket)
        if bucket.code is not None:
            store["bytecode", bucket.key, bucket.checksum] = bucket.code

    def dump_bytecode(self, bucket: Bucket) -> None:
        super().dump_bytecode(bucket)
        if bucket.code is not None:
            compile_cache.shared_store()["bytecode", bucket.key, bucket.checksum] = bucket.code


def bytecode_cache_dir() -> Path:
    return Path(compile_cache.cache_root()) / "jinja"


class PlaybookFilters(Extension):
    """Registers the pure helpers of derive.py as Jinja filters and globals, and the bytecode cache."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(derive.FILTERS)
        environment.globals.update(derive.GLOBALS)
        environment.extend(**{compile_cache.EXTENSIONS_DIGEST_ATTRIBUTE: EXTENSIONS_DIGEST})
        if environment.bytecode_cache is None and compile_cache.disk_cache_enabled():
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
