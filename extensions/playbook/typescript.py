"""TypeScript as Prettier prints it.

The generated sources must pass `prettier --check .` with the generated .prettierrc.json
(tests/test_format.py), and some of their lines hold answer-dependent text (names, lists of modules,
the project name). These helpers print such a line as Prettier would: flat when it fits in the
print width, otherwise broken one item per line.
"""

from __future__ import annotations

import unicodedata
from typing import Any

PRETTIER_PRINT_WIDTH = 100  # "printWidth" of template/.prettierrc.json
TS_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def text_width(text: str) -> int:
    """Display width as Prettier measures it: East Asian wide characters count two, marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def ts_str(value: Any) -> str:
    """A TypeScript string literal of `value` as Prettier prints it with `singleQuote`: single quotes
    unless the text holds more single than double quotes; backslashes, the quote and control
    characters escaped, every other character as it is."""
    text = str(value)
    quote = '"' if text.count("'") > text.count('"') else "'"
    escaped = []
    for char in text:
        if char in TS_ESCAPES:
            escaped.append(TS_ESCAPES[char])
        elif char == quote:
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F or char in "\u2028\u2029":
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return quote + "".join(escaped) + quote


def _last_line(text: str) -> str:
    return text.rsplit("\n", 1)[-1]


def _indent_of(text: str) -> str:
    line = _last_line(text)
    return line[: len(line) - len(line.lstrip(" "))]


def ts_list(items: list[str] | tuple[str, ...], head: str, tail: str = "", brackets: str = "[]") -> str:
    """`head[a, b]tail` when that line fits in the print width, else one item a line with trailing
    commas (Prettier's layout of an array, call arguments or, with brackets "{}", import specifiers
    and an object). `head` starts with the line's indentation; items are printed TypeScript."""
    items = [str(item) for item in items]
    opening, closing = brackets[0], brackets[1]
    pad = " " if opening == "{" and items else ""
    flat = f"{head}{opening}{pad}{', '.join(items)}{pad}{closing}{tail}"
    if not items or text_width(_last_line(flat)) <= PRETTIER_PRINT_WIDTH:
        return flat
    indent = _indent_of(head)
    lines = "".join(f"{indent}  {item},\n" for item in items)
    return f"{head}{opening}\n{lines}{indent}{closing}{tail}"


def ts_import(names: list[str] | tuple[str, ...], source: str, kind: str = "import") -> str:
    """`import { a, b } from 'source';` as Prettier prints it (a single name is never broken)."""
    names = [str(name) for name in names]
    if len(names) == 1:
        return f"{kind} {{ {names[0]} }} from {ts_str(source)};"
    return ts_list(names, f"{kind} ", f" from {ts_str(source)};", "{}")


def ts_fits(line: str) -> bool:
    """Whether one printed line fits in Prettier's print width (for layouts the other helpers do not cover)."""
    return text_width(_last_line(line)) <= PRETTIER_PRINT_WIDTH


def ts_assign(head: str, value: str, tail: str = "") -> str:
    """`head value tail` for an assignment or object property whose value is a string literal:
    Prettier moves the value to the next line, indented, when the line is too long."""
    flat = f"{head} {value}{tail}"
    if text_width(_last_line(flat)) <= PRETTIER_PRINT_WIDTH:
        return flat
    return f"{head}\n{_indent_of(head)}  {value}{tail}"


