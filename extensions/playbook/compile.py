"""One Jinja compile per template source and process, shared by every environment of the process.

`copier update` renders the template three times in one process (the old release into a scratch
directory, the new release over the repository, the new release into a second scratch directory),
each with its own Jinja environment and its own clone of the template, and bootstrapping a fleet or
running the tests renders many times more. Compiling is most of a render's cost, so an environment
reuses the code another environment of the process compiled from the same source text.

A code object is reused only when the template name, the source text and everything else that
shapes the generated code are the same (`fingerprint`): the environment's settings, the parsing
extensions, the filters and tests (Jinja's optimizer calls a filter on constant arguments at
compile time and bakes in the result, so `{{ 'checkout' | action_ref }}` compiles to the pinned
string from extensions/data/stack.yml), the content of this template's extensions directory, and
the versions of the libraries the other filters come from. Only parsing extensions known to have no
side effects beyond `preprocess` take part (Jinja's own and copier's `yield`); with any other, the
environment compiles as usual. A reused compile still runs `preprocess`, which copier's `yield` tag
relies on to reset its state.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

STORE_MODULE = "_nest_playbook_shared_compile_cache"
# Set to compile every source in every environment, as Jinja does by itself (scripts/bench_update.py
# --without-compile-cache measures what the sharing saves).
OPT_OUT_VARIABLE = "NEST_PLAYBOOK_NO_SHARED_COMPILE"
# Parsing extensions whose only side effect is in `preprocess` (replayed on a reuse).
KNOWN_PARSERS = ("jinja2.ext.", "copier._jinja_ext.YieldExtension", "copier.jinja_ext.YieldExtension")
# The loader (extensions/context.py) loads this package under this prefix plus a hash of its path;
# the digest of the extensions directory stands for it.
OWN_MODULE_PREFIX = "_nest_playbook_"


def shared_store() -> dict[tuple[Any, ...], Any]:
    """The process-wide store. Every template clone loads this package as its own module, so the
    store hangs off sys.modules, where all of them find the same one."""
    module = sys.modules.get(STORE_MODULE)
    if module is None:
        module = types.ModuleType(STORE_MODULE)
        module.codes = {}  # type: ignore[attr-defined]
        sys.modules[STORE_MODULE] = module
    codes: dict[tuple[Any, ...], Any] = module.codes
    return codes


@functools.cache
def extensions_digest(directory: Path) -> str:
    """A hash of every file of the extensions directory (code and data)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _parses(extension: Extension) -> bool:
    """Whether an extension takes part in parsing (tags, preprocess, token filters)."""
    cls = type(extension)
    return bool(extension.tags) or cls.preprocess is not Extension.preprocess or (
        cls.filter_stream is not Extension.filter_stream
    )


def _origin(function: Any) -> tuple[str, str]:
    """Module and qualified name of a filter or test (through functools.partial)."""
    target = function
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    if module.startswith(OWN_MODULE_PREFIX):  # unique per clone path; the extensions digest covers it
        module = OWN_MODULE_PREFIX
    return module, qualname


def _pass_arg(function: Any) -> str | None:
    """How Jinja passes the context to a filter or test (what `_PassArg.from_obj` reads)."""
    kind = getattr(function, "jinja_pass_arg", None)
    return None if kind is None else str(getattr(kind, "name", kind))


def _callables(table: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, str], str | None], ...]:
    return tuple(sorted((name, _origin(function), _pass_arg(function)) for name, function in table.items()))


def _library_version(module_name: str) -> str:
    """Stands for the version of the installed package a module comes from: the size and time of
    its file (installing another version rewrites it)."""
    filename = getattr(sys.modules.get(module_name.split(".")[0]), "__file__", None)
    if not filename:
        return ""
    try:
        status = os.stat(filename)
    except OSError:
        return ""
    return f"{status.st_size}:{status.st_mtime_ns}"


def fingerprint(environment: Environment, digest: str) -> tuple[Any, ...] | None:
    """Everything besides the source that shapes generated code, or None when it cannot be compared safely."""
    if not isinstance(environment.autoescape, bool):
        return None
    finalize = environment.finalize
    if finalize is not None and not hasattr(finalize, "__qualname__"):
        return None
    parsers = [ext for ext in environment.extensions.values() if _parses(ext)]
    if any(not ext.identifier.startswith(KNOWN_PARSERS) for ext in parsers):
        return None
    filters, tests = _callables(environment.filters), _callables(environment.tests)
    libraries = sorted({origin[0].split(".")[0] for _, origin, _ in filters + tests} - {OWN_MODULE_PREFIX})
    return (
        type(environment).__module__, type(environment).__qualname__, environment.sandboxed,
        environment.block_start_string, environment.block_end_string,
        environment.variable_start_string, environment.variable_end_string,
        environment.comment_start_string, environment.comment_end_string,
        environment.line_statement_prefix, environment.line_comment_prefix,
        environment.trim_blocks, environment.lstrip_blocks, environment.newline_sequence,
        environment.keep_trailing_newline, environment.optimized, environment.is_async,
        environment.autoescape, None if finalize is None else (finalize.__module__, finalize.__qualname__),
        tuple(sorted((ext.identifier, tuple(sorted(ext.tags))) for ext in parsers)),
        filters, tests, digest, tuple((library, _library_version(library)) for library in libraries),
    )


def preprocessors(environment: Environment) -> Callable[[str, str | None, str | None], Any]:
    """What `environment.preprocess` does, without sorting the extensions on every call: a reused
    compile replays it (copier's `yield` tag resets its state there) about 1,400 times per render."""
    if type(environment).preprocess is not Environment.preprocess:
        return environment.preprocess
    steps = [ext.preprocess for ext in environment.iter_extensions()
             if type(ext).preprocess is not Extension.preprocess]

    def preprocess(source: str, name: str | None, filename: str | None) -> Any:
        for step in steps:
            source = step(source, name, filename)
        return source

    return preprocess


def share_compiles(environment: Environment, extensions_dir: Path) -> None:
    """Wrap the environment's `compile` with the process-wide store."""
    if os.environ.get(OPT_OUT_VARIABLE):
        return
    original: Callable[..., Any] = environment.compile
    store = shared_store()
    # Computed at the first compile, once all extensions and filters exist: the settings key
    # (None: compile as usual) and the replay of `preprocess`.
    shape: list[Any] = []

    def compile(source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                defer_init: bool = False) -> Any:
        if raw or not isinstance(source, str):
            return original(source, name, filename, raw, defer_init)
        if not shape:
            settings = fingerprint(environment, extensions_digest(extensions_dir))
            digest = None if settings is None else hashlib.sha256(repr(settings).encode()).hexdigest()
            shape[:] = [digest, preprocessors(environment)]
        settings_key, preprocess = shape
        if settings_key is None:
            return original(source, name, filename, raw, defer_init)
        key: tuple[Any, ...] = (settings_key, name, defer_init, source)
        code = store.get(key)
        if code is not None:
            preprocess(source, name, filename)  # the side effects a compile would have
            return code
        code = store[key] = original(source, name, filename, raw, defer_init)
        return code

    environment.compile = compile  # type: ignore[method-assign]
