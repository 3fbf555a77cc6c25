"""The service-level objectives as the document, the metrics, the alert rules and the load tests state them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .data import load_data

# Seconds; the latency objective is added as a bucket boundary so its quantile is exact.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLO_WINDOW_DAYS = 30


def _number(value: float) -> str:
    """A percentage or duration without float noise: 99.9 -> '99.9', 99.0 -> '99'."""
    return f"{round(value, 6):g}"


def _decimal_text(value: float) -> str:
    """A plain decimal (no exponent, no float noise) for PromQL and YAML: 0.0144, 0.2, 60."""
    text = f"{round(value, 10):.10f}".rstrip("0").rstrip(".")
    return text or "0"


def telemetry(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The metric contract between the app's /metrics, the alert rules, the dashboard and the document."""
    objective = round(int(answers["p95_latency_ms"]) / 1000, 6)
    return {
        "http_duration_histogram": "http_request_duration_seconds",
        "http_labels": ["method", "route", "status_code"],
        "http_buckets": sorted({*HTTP_DURATION_BUCKETS, objective}),
        # The transactional outbox (message broker renders): its backlog, which OutboxBacklog reads.
        "outbox_pending": "outbox_pending_events",
        "outbox_oldest_age": "outbox_oldest_pending_age_seconds",
        "outbox_published": "outbox_published_total",
    }


def slo(answers: Mapping[str, Any]) -> dict[str, Any]:
    availability = float(answers["slo_availability"])
    budget = round(100.0 - availability, 6)
    p95_ms = int(answers["p95_latency_ms"])
    return {
        "availability": _number(availability),
        "error_budget_percent": _number(budget),
        "error_budget_ratio": round(budget / 100.0, 8),
        "window_days": SLO_WINDOW_DAYS,
        "budget_minutes": _number(round(SLO_WINDOW_DAYS * 24 * 60 * budget / 100.0, 1)),
        "p95_ms": p95_ms,
        "p95_seconds": _number(p95_ms / 1000),
        "coverage": int(answers["coverage_threshold"]),
    }


def alert_thresholds(answers: Mapping[str, Any]) -> dict[str, str]:
    """Multi-window burn-rate thresholds (Google SRE workbook, ch. 5) for the availability answer,
    and the latency objective as the histogram bucket the alert reads."""
    budget = (100.0 - float(answers["slo_availability"])) / 100.0
    return {
        "error_budget": _decimal_text(budget),
        "fast_burn": _decimal_text(14.4 * budget),
        "slow_burn": _decimal_text(6 * budget),
        "latency_bucket": _decimal_text(int(answers["p95_latency_ms"]) / 1000),
    }


def recovery(answers: Mapping[str, Any]) -> dict[str, Any]:
    """RPO and RTO from the availability answer (extensions/data/recovery.yml states the rule)."""
    rules = load_data("recovery")
    availability = float(answers["slo_availability"])
    tier = next(t for t in rules["tiers"] if availability >= float(t["min_availability"]))
    budget = SLO_WINDOW_DAYS * 24 * 60 * (100.0 - availability) / 100.0
    rto = max(1, int(budget))
    return {
        "rpo_minutes": int(tier["rpo_minutes"]),
        "rto_minutes": rto,
        "mechanism": str(tier["mechanism"]),
        "tier_floor": _number(float(tier["min_availability"])),
        "restore_fits": rto >= int(rules["restore_minutes"]),
        "restore_minutes": int(rules["restore_minutes"]),
    }
