"""One compile per template source in a copier process, shared by every Jinja environment.

`copier update` renders the template three times in one process: the old release into a scratch
directory, the new release over the repository, and the new release into a second scratch
directory. Each render has its own Jinja environment (and its own clone of the template), so every
file template, include and path name was compiled three times, and compiling is most of a render's
cost. This extension makes an environment reuse the code objects other environments of the same
process compiled from the same source text: Jinja's bytecode caches do the same across processes.

A code object is reused only when the template name, the source text and every environment
setting that changes the generated code (delimiters, whitespace handling, autoescape, finalize,
sandboxing, and the extensions that parse) are the same; otherwise it compiles as usual. Only
parsing extensions known to have no side effects beyond `preprocess` take part (Jinja's own and
copier's `yield`); with any other, the environment compiles as usual. A reused compile still runs
the extensions' `preprocess`, which copier's `yield` tag relies on to reset its state. Nothing is
written to disk and nothing outlives the process.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

STORE_MODULE = "_nest_playbook_shared_compile_cache"
# Parsing extensions whose only side effect is in `preprocess` (replayed on a reuse).
KNOWN_PARSERS = ("jinja2.ext.", "copier._jinja_ext.YieldExtension", "copier.jinja_ext.YieldExtension")


def shared_store() -> dict[tuple[Any, ...], Any]:
    """The process-wide store. Every template clone loads this file as its own module, so the store
    hangs off sys.modules, where all of them find the same one."""
    module = sys.modules.get(STORE_MODULE)
    if module is None:
        module = types.ModuleType(STORE_MODULE)
        module.codes = {}  # type: ignore[attr-defined]
        sys.modules[STORE_MODULE] = module
    codes: dict[tuple[Any, ...], Any] = module.codes
    return codes


def _parses(extension: Extension) -> bool:
    """Whether an extension takes part in parsing (tags, preprocess, token filters)."""
    cls = type(extension)
    return bool(extension.tags) or cls.preprocess is not Extension.preprocess or (
        cls.filter_stream is not Extension.filter_stream
    )


def fingerprint(environment: Environment) -> tuple[Any, ...] | None:
    """The settings that shape generated code, or None when they cannot be compared safely."""
    if not isinstance(environment.autoescape, bool):
        return None
    finalize = environment.finalize
    if finalize is not None and not hasattr(finalize, "__qualname__"):
        return None
    parsers = [ext for ext in environment.extensions.values() if _parses(ext)]
    if any(not ext.identifier.startswith(KNOWN_PARSERS) for ext in parsers):
        return None
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
    )


class SharedCompileCache(Extension):
    """Wraps the environment's `compile` with the process-wide store (see the module docstring)."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        original: Callable[..., Any] = environment.compile
        store = shared_store()
        settings: list[tuple[Any, ...] | None] = []  # computed at the first compile, once all extensions exist

        def compile(source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                    defer_init: bool = False) -> Any:
            if raw or not isinstance(source, str):
                return original(source, name, filename, raw, defer_init)
            if not settings:
                settings.append(fingerprint(environment))
            if settings[0] is None:
                return original(source, name, filename, raw, defer_init)
            key = (settings[0], name, defer_init, source)
            code = store.get(key)
            if code is None:
                code = store[key] = original(source, name, filename, raw, defer_init)
            else:
                environment.preprocess(source, name, filename)  # the side effects a compile would have
            return code

        environment.compile = compile  # type: ignore[method-assign]
