"""The data files beside the code (stack manifest, industry profiles, clouds) and copier.yml's questions."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

EXTENSIONS_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = EXTENSIONS_DIR / "data"
COPIER_YML = EXTENSIONS_DIR.parent / "copier.yml"

# libyaml's parser when PyYAML has it: the same safe constructor and resolver as yaml.safe_load.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_mapping(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=YAML_LOADER)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} must hold a mapping")
    return data


@cache
def load_data(name: str) -> dict[str, Any]:
    """extensions/data/<name>.yml."""
    return _read_mapping(DATA_DIR / f"{name}.yml")


@cache
def questions() -> dict[str, dict[str, Any]]:
    """The questions of copier.yml (its settings start with '_')."""
    return {name: spec for name, spec in _read_mapping(COPIER_YML).items() if not name.startswith("_")}


def stack_manifest() -> dict[str, Any]:
    return load_data("stack")


def industry_profile(industry: str) -> dict[str, Any]:
    profiles = load_data("industries")
    if industry not in profiles:
        raise ValueError(f"unknown industry {industry!r}; expected one of {', '.join(profiles)}")
    profile: dict[str, Any] = profiles[industry]
    return profile


def image_port(key: str) -> int:
    """The port a backing server's image listens on (stack manifest)."""
    port: int = stack_manifest()["images"][key]["port"]
    return port
