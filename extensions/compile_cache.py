"""One compile per template source, shared by every Jinja environment of a process and, for the
strings copier renders, by every later process of the same setup.

`copier update` renders the template three times in one process: the old release into a scratch
directory, the new release over the repository, and the new release into a second scratch
directory. Each render has its own Jinja environment (and its own clone of the template), so every
file template, include and path name was compiled three times, and compiling is most of a render's
cost. This extension makes an environment reuse the code objects other environments of the same
process compiled from the same source text.

Besides the template files (Jinja's bytecode cache, `jinja_ext.TemplateBytecodeCache`, keeps those
across processes), copier compiles about 350 strings of its own per render with `from_string`:
every part of every path name, the answers-file name and the questions' defaults, help texts and
validators. Those compiles are kept on disk too (`CodeStore`, under
~/.cache/nest-playbook-template/strings), marshalled like Python's .pyc files. Setting
NEST_PLAYBOOK_NO_BYTECODE_CACHE turns both on-disk caches off; the in-process sharing stays. Files
of either cache unused for 30 days are deleted (`prune_stale`, checked once a day at most), so each
template release's entries do not stay forever.

A code object is reused only when the template name, the source text and everything else that
changes the generated code are the same (`fingerprint`): the environment settings (delimiters,
whitespace handling, autoescape, finalize, sandboxing, the extensions that parse), the filters and
tests (how a call passes the context, and which filter runs: Jinja's optimizer calls a filter on
constant arguments at compile time and bakes in the result, so `{{ 'checkout' | action_ref }}`
compiles to the pinned string from extensions/data/stack.yml), the content of this template's
extensions directory (code and data of those filters) and the versions of the libraries the other
filters come from; on disk also the Python and Jinja versions. Only parsing extensions known to
have no side effects beyond `preprocess` take part (Jinja's own and copier's `yield`); with any
other, the environment compiles as usual. A reused compile still runs the extensions'
`preprocess`, which copier's `yield` tag relies on to reset its state.

The on-disk store is safe to share: a file is written under a temporary name and renamed into
place (concurrent writers of one key write the same bytes; the last rename wins), and a file that
does not carry its own key and a matching checksum, or does not unmarshal to a code object, is
compiled again and rewritten.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import os
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import Environment
from jinja2.ext import Extension

STORE_MODULE = "_nest_playbook_shared_compile_cache"
# Parsing extensions whose only side effect is in `preprocess` (replayed on a reuse).
KNOWN_PARSERS = ("jinja2.ext.", "copier._jinja_ext.YieldExtension", "copier.jinja_ext.YieldExtension")
NO_DISK_CACHE_VARIABLE = "NEST_PLAYBOOK_NO_BYTECODE_CACHE"
# Set on the environment by jinja_ext.PlaybookFilters: a digest of the extensions directory.
EXTENSIONS_DIGEST_ATTRIBUTE = "nest_playbook_extensions_digest"
# jinja_ext.py loads derive.py under this prefix plus a hash of its path; the digest stands for it.
OWN_MODULE_PREFIX = "_nest_playbook_"
# Bump when the file layout or the key changes.
FORMAT = b"nest-playbook-code/1\n"
# Cache files neither read nor written for this long are deleted; the check runs once a day at most.
STALE_AFTER_SECONDS = 30 * 24 * 3600
PRUNE_EVERY_SECONDS = 24 * 3600
PRUNE_MARKER = ".last-pruned"


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


# --------------------------------------------------------------------------- on disk


def cache_root() -> Path:
    """~/.cache/nest-playbook-template (or under $XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nest-playbook-template"


def disk_cache_enabled() -> bool:
    return not os.environ.get(NO_DISK_CACHE_VARIABLE)


def prune_stale(root: Path, now: float | None = None) -> int:
    """Delete the cache files under `root`'s directories that were neither read nor written for
    STALE_AFTER_SECONDS, at most once per PRUNE_EVERY_SECONDS (the marker file's mtime); return how
    many. Last use is the later of atime (refreshed daily under Linux's default relatime) and mtime;
    a file deleted while still in use is only compiled again, and no failure stops a render."""
    now = time.time() if now is None else now
    marker = root / PRUNE_MARKER
    try:
        if now - marker.stat().st_mtime < PRUNE_EVERY_SECONDS:
            return 0
    except FileNotFoundError:
        pass
    except OSError:
        return 0
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.touch()
        os.utime(marker, (now, now))
        directories = [entry.path for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    deleted = 0
    for directory in directories:
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    status = entry.stat(follow_symlinks=False)
                    last_used = max(status.st_atime, status.st_mtime)
                    if entry.is_file(follow_symlinks=False) and now - last_used > STALE_AFTER_SECONDS:
                        os.unlink(entry.path)
                        deleted += 1
    return deleted


def prune_once_per_process() -> None:
    """`prune_stale` of the cache root, the first time a process uses the disk caches."""
    module = sys.modules.get(STORE_MODULE)
    if module is not None and not getattr(module, "pruned", False):
        module.pruned = True  # type: ignore[attr-defined]
        prune_stale(cache_root())


def _checksum(payload: bytes | memoryview) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


class CodeStore:
    """Code objects on disk, one file per key: a header naming the format, the Python bytecode
    version and the key, a checksum of the payload, and the marshalled code object."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.prefix = FORMAT + MAGIC_NUMBER

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.code"

    def load(self, key: str) -> types.CodeType | None:
        """The stored code object, or None when it is missing, from another format or damaged."""
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        header = self.prefix + key.encode() + b"\n"
        start = len(header) + 16
        if not data.startswith(header) or len(data) <= start:
            return None
        payload = memoryview(data)[start:]
        if _checksum(payload) != data[len(header):start]:
            return None
        try:
            code = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        return code if isinstance(code, types.CodeType) else None

    def save(self, key: str, code: types.CodeType) -> None:
        """Write atomically (temporary file, then rename); any failure only costs speed."""
        try:
            payload = marshal.dumps(code)
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{key[:16]}.", suffix=".tmp")
        except (OSError, ValueError):
            return
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(self.prefix + key.encode() + b"\n" + _checksum(payload) + payload)
            os.replace(temporary, self.path(key))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


# --------------------------------------------------------------------------- what shapes the code


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
    its file (installing another version rewrites it). Reading `__version__` would warn for some."""
    filename = getattr(sys.modules.get(module_name.split(".")[0]), "__file__", None)
    if not filename:
        return ""
    try:
        status = os.stat(filename)
    except OSError:
        return ""
    return f"{status.st_size}:{status.st_mtime_ns}"


def code_inputs(environment: Environment) -> tuple[Any, ...]:
    """What the generated code depends on besides the settings and the source: the filters and
    tests, the digest of this template's extensions and the versions of the other filters' libraries."""
    filters, tests = _callables(environment.filters), _callables(environment.tests)
    modules = sorted({origin[0].split(".")[0] for _, origin, _ in filters + tests} - {OWN_MODULE_PREFIX})
    return (
        filters, tests, getattr(environment, EXTENSIONS_DIGEST_ATTRIBUTE, None),
        tuple((module, _library_version(module)) for module in modules),
    )


def fingerprint(environment: Environment) -> tuple[Any, ...] | None:
    """Everything besides the source that shapes generated code, or None when it cannot be compared safely."""
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
        code_inputs(environment),
    )


def settings_digest(settings: tuple[Any, ...]) -> str:
    """A short stand-in for a fingerprint (hashing the whole tuple on every compile would cost more
    than the lookup saves), with the Python and Jinja versions the on-disk store also depends on."""
    text = repr((sys.implementation.cache_tag, jinja2.__version__, settings))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def disk_key(settings: str, name: str | None, defer_init: bool, source: str) -> str:
    """The file name of a compile: a hash of the settings digest, the name and the source text."""
    text = repr((settings, name, defer_init, source))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --------------------------------------------------------------------------- the extension


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


class SharedCompileCache(Extension):
    """Wraps the environment's `compile` with the process-wide store (see the module docstring)."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        original: Callable[..., Any] = environment.compile
        store = shared_store()
        disk = CodeStore(cache_root() / "strings") if disk_cache_enabled() else None
        if disk is not None:
            prune_once_per_process()
        # Computed at the first compile, once all extensions and filters exist: the settings digest
        # (None: compile as usual) and the replay of `preprocess`.
        shape: list[Any] = []

        def compile(source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                    defer_init: bool = False) -> Any:
            if raw or not isinstance(source, str):
                return original(source, name, filename, raw, defer_init)
            if not shape:
                settings = fingerprint(environment)
                shape[:] = [None if settings is None else settings_digest(settings), preprocessors(environment)]
            digest, preprocess = shape
            if digest is None:
                return original(source, name, filename, raw, defer_init)
            key = (digest, name, defer_init, source)
            code = store.get(key)
            if code is not None:
                preprocess(source, name, filename)  # the side effects a compile would have
                return code
            # Only strings (no file name) go to disk: Jinja's bytecode cache keeps the template files.
            path_key = disk_key(digest, name, defer_init, source) if disk is not None and filename is None else ""
            if disk is not None and path_key:
                code = disk.load(path_key)
                if code is not None:
                    preprocess(source, name, filename)
                    store[key] = code
                    return code
            code = store[key] = original(source, name, filename, raw, defer_init)
            if disk is not None and path_key:
                disk.save(path_key, code)
            return code

        environment.compile = compile  # type: ignore[method-assign]
