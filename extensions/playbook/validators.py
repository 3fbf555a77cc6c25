"""Answer validators: each returns "" for a valid answer, or a message that copier prefixes with
"Validation error for question '<name>': " (copier.yml calls them through `check`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from .naming import PROJECT_SLUG_MAX

DNS1123_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# host[:port][/path...] as used in image references, lower case only.
REGISTRY = re.compile(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-._a-z0-9]*[a-z0-9])?)*$"
)
BOUNDED_CONTEXT_MAX = 20
BOUNDED_CONTEXTS_MAX_COUNT = 8
RESERVED_CONTEXTS = frozenset(
    {"health", "metrics", "docs", "common", "shared", "app", "config", "test", "platform"}
)

def _dns_label_error(value: Any, max_length: int, what: str) -> str:
    if not isinstance(value, str) or not value:
        return f"{what} must not be empty"
    if len(value) > max_length:
        return f"{what} {value!r} has {len(value)} characters; at most {max_length} are allowed"
    if not DNS1123_LABEL.match(value):
        return (
            f"{what} {value!r} must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return ""


def _is_single_line(value: str) -> bool:
    """No control characters or line/paragraph separators (they would break YAML and Markdown lines)."""
    return not any(unicodedata.category(char) in {"Cc", "Zl", "Zp"} for char in value)


def _one_line_error(value: Any, max_length: int, what: str) -> str:
    """Free text for one line: not empty, no control characters, at most `max_length` characters."""
    if not isinstance(value, str) or not value.strip():
        return f"{what} must not be empty"
    if not _is_single_line(value):
        return f"{what} must be a single line without control characters"
    if len(value) > max_length:
        return f"{what} has {len(value)} characters; at most {max_length} are allowed"
    return ""


def validate_project_name(value: Any) -> str:
    return _one_line_error(value, 80, "the project name")


def validate_project_slug(value: Any) -> str:
    return _dns_label_error(value, PROJECT_SLUG_MAX, "the slug")


def validate_description(value: Any) -> str:
    return _one_line_error(value, 300, "the description")


def validate_owner(value: Any) -> str:
    return _dns_label_error(value, 63, "the owner (a team slug)")


def validate_contact_email(value: Any) -> str:
    if not isinstance(value, str) or not EMAIL.match(value):
        return f"{value!r} is not an e-mail address (expected name@domain.tld)"
    return ""


def validate_container_registry(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "the container registry must not be empty"
    if value.endswith("/") or "://" in value:
        return f"{value!r} must be a registry host and path without scheme or trailing '/', e.g. ghcr.io/my-team"
    if not REGISTRY.match(value):
        return f"{value!r} is not a valid registry reference (lower-case host[:port]/path)"
    return ""


def validate_bounded_contexts(value: Any) -> str:
    if not isinstance(value, list):
        return "bounded_contexts must be a list of names, e.g. [orders, payments]"
    if not 1 <= len(value) <= BOUNDED_CONTEXTS_MAX_COUNT:
        return f"give 1 to {BOUNDED_CONTEXTS_MAX_COUNT} bounded contexts; got {len(value)}"
    seen: set[str] = set()
    for name in value:
        error = _dns_label_error(name, BOUNDED_CONTEXT_MAX, "the bounded context")
        if error:
            return error
        if name in RESERVED_CONTEXTS:
            return (
                f"the bounded context {name!r} is reserved for the platform layer "
                f"({', '.join(sorted(RESERVED_CONTEXTS))})"
            )
        if name in seen:
            return f"the bounded context {name!r} is listed twice"
        seen.add(name)
    return ""


def validate_api_styles(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return "choose at least one API style"
    return ""


def validate_slo_availability(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    if not 90.0 <= float(value) < 100.0:
        return f"{value} is outside 90 <= availability < 100 (a percentage, e.g. 99.9)"
    return ""


def validate_p95_latency_ms(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a whole number of milliseconds"
    if not 1 <= value <= 60000:
        return f"{value} is outside 1..60000 milliseconds"
    return ""


def validate_coverage_threshold(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a whole percentage"
    if not 0 <= value <= 100:
        return f"{value} is outside 0..100 percent"
    return ""


def validate_message_broker(value: Any, architecture: Any) -> str:
    if value == "none" and architecture == "microservices":
        return (
            "message_broker 'none' cannot be combined with architecture 'microservices': "
            "services exchange integration events through a broker; choose redis, rabbitmq, nats or kafka"
        )
    return ""


VALIDATORS: dict[str, Callable[[Any], str]] = {
    "project_name": validate_project_name,
    "project_slug": validate_project_slug,
    "description": validate_description,
    "owner": validate_owner,
    "contact_email": validate_contact_email,
    "container_registry": validate_container_registry,
    "bounded_contexts": validate_bounded_contexts,
    "api_styles": validate_api_styles,
    "slo_availability": validate_slo_availability,
    "p95_latency_ms": validate_p95_latency_ms,
    "coverage_threshold": validate_coverage_threshold,
}


def check(question: str, value: Any) -> str:
    """Run the validator of one question (used by copier.yml validators)."""
    return VALIDATORS[question](value)

