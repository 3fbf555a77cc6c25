"""Fixtures: one renderer per session (shared across xdist workers), the render matrix."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import Renderer
from matrix import Combination, all_combinations

COMBINATIONS = all_combinations()


def pytest_configure(config: pytest.Config) -> None:
    """One decision date (the ADRs' front matter) for every render of the run, also of a run that
    crosses midnight: the controller sets SOURCE_DATE_EPOCH before the xdist workers start, and they
    and the copier processes the tests start inherit it. A date set from outside is kept."""
    os.environ.setdefault("SOURCE_DATE_EPOCH", str(int(time.time())))


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
