"""Fixtures: one renderer per session (shared across xdist workers), the render matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Renderer
from matrix import Combination, all_combinations

COMBINATIONS = all_combinations()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite the golden files under tests/golden instead of comparing against them",
    )


@pytest.fixture(scope="session")
def renderer(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Renderer:
    base = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        base = base.parent
    return Renderer(base / "shared")


@pytest.fixture(params=COMBINATIONS, ids=[c.id for c in COMBINATIONS])
def combination(request: pytest.FixtureRequest) -> Combination:
    return request.param


@pytest.fixture
def rendered(renderer: Renderer, combination: Combination) -> Path:
    return renderer.render(combination.id, combination.answers)
