"""The layout of the template and of its renders: file names under template/ hold one variable or
one short condition, the model gives every directory they print, and `include_app: false` leaves
out exactly the application's paths (extensions/playbook/layout.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import EXAMPLES, REPO, load_yaml

from extensions.playbook import layout, model

TEMPLATE = REPO / "template"
MEAN_PATH_GOAL = 60  # characters, from template/ (issue 14: copier-uv and its peers measure 33 to 52)


def template_files() -> list[str]:
    return sorted(str(path.relative_to(TEMPLATE)) for path in TEMPLATE.rglob("*") if path.is_file())


def test_file_names_hold_one_variable_or_one_short_condition() -> None:
    names = template_files()
    assert len(names) > 100
    mean = sum(len(name) for name in names) / len(names)
    assert mean <= MEAN_PATH_GOAL, f"mean path under template/ is {mean:.1f} characters"
    assert [name for name in names if "{% else" in name or name.count("{% if") > 1] == []
    assert [name for name in names if "include_app" in name] == [], "include_app acts through copier.yml's _exclude"


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = load_yaml(EXAMPLES / "minimal-general.yml")
    return {**base, **overrides}


def test_directories_follow_the_architecture_and_the_features() -> None:
    monolith = model.build(answers(architecture="monolith", message_broker="none", cache=False))
    assert (monolith.platform_dir, monolith.single_app_dir) == ("src/platform", "src")
    assert (monolith.messaging_dir, monolith.redis_dir) == ("", "")
    assert {m["service_dir"] for m in monolith.modules} == {""}
    assert monolith.e2e_suites == [{"slug": "app"}] and monolith.broker_modules == []

    micro = model.build(answers(architecture="microservices", message_broker="nats", cache=True))
    assert (micro.platform_dir, micro.single_app_dir) == ("libs/platform", "")
    assert (micro.messaging_dir, micro.redis_dir) == ("libs/platform/messaging", "libs/platform/redis")
    assert [m["service_dir"] for m in micro.modules] == [f"apps/{m['slug']}" for m in micro.modules]
    assert [s["slug"] for s in micro.e2e_suites] == [m["slug"] for m in micro.modules] == \
        [m["slug"] for m in micro.broker_modules]


def top_level(root: Path) -> set[str]:
    return {path.name for path in root.iterdir()}


def test_include_app_false_leaves_out_exactly_the_application(renderer: Any) -> None:
    with_app = top_level(renderer.render("defaults", {})) | top_level(
        renderer.render("architecture-microservices", {"architecture": "microservices", "message_broker": "redis"}))
    without = top_level(renderer.render("include_app-false", {"include_app": False}))
    assert with_app - without == {path.lstrip("/") for path in layout.APP_ONLY_PATHS}
    assert without <= with_app
