"""Name casings of free text and bounded-context slugs."""

from __future__ import annotations

import re

PROJECT_SLUG_MAX = 40


def words(value: str) -> list[str]:
    return [part for part in re.split(r"[^A-Za-z0-9]+", value) if part]


def pascal_case(value: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in words(value))


def camel_case(value: str) -> str:
    pascal = pascal_case(value)
    return pascal[:1].lower() + pascal[1:]


def snake_case(value: str) -> str:
    return "_".join(part.lower() for part in words(value))


def kebab_case(value: str) -> str:
    return "-".join(part.lower() for part in words(value))


def title_case(value: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in words(value))


def singular(value: str) -> str:
    """English singular of a plural noun, good enough for entity names (orders -> order)."""
    if value.endswith("ies") and len(value) > 4:
        return value[:-3] + "y"
    if value.endswith(("sses", "shes", "ches", "xes")):
        return value[:-2]
    if value.endswith("s") and not value.endswith("ss") and len(value) > 3:
        return value[:-1]
    return value


def slugify(value: str, max_length: int = PROJECT_SLUG_MAX) -> str:
    """A DNS-1123 label from free text: ASCII letters and digits, hyphen separated."""
    slug = "-".join(part.lower() for part in re.split(r"[^A-Za-z0-9]+", value) if part)
    slug = slug.lstrip("-0123456789")[:max_length].rstrip("-")
    return slug or "service"
