"""The image tier's figures: written as JSON where NEST_IMAGE_FIGURES says (one key per render), and the
recorded sizing figures of the model (extensions/data/sizing.yml, `measured.idle_rss_mib` and
`measured.loaded_rss_mib`) that the measured memory is held to."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from filelock import FileLock
from helpers import REPO, load_yaml

SIZING = REPO / "extensions" / "data" / "sizing.yml"
TOLERANCE = 1.10


def record(render: str, figures: dict[str, Any]) -> None:
    """Print the figures and merge them into the JSON file named by NEST_IMAGE_FIGURES, if set."""
    print(f"\nimage figures {render}: {json.dumps(figures, sort_keys=True)}")
    target = os.environ.get("NEST_IMAGE_FIGURES")
    if not target:
        return
    path = Path(target)
    with FileLock(str(path) + ".lock"):
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() and path.stat().st_size else {}
        data[render] = figures
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def recorded_rss_mib() -> dict[str, float]:
    """The model's recorded idle and loaded RSS (MiB); an AssertionError names what is missing."""
    assert SIZING.exists(), f"{SIZING.relative_to(REPO)} does not exist: record measured.idle_rss_mib and " \
                            "measured.loaded_rss_mib there (the figures printed above)"
    measured = (load_yaml(SIZING) or {}).get("measured") or {}
    missing = [key for key in ("idle_rss_mib", "loaded_rss_mib") if not isinstance(measured.get(key), int | float)]
    assert not missing, f"{SIZING.relative_to(REPO)} has no number under measured.{', measured.'.join(missing)}"
    return {"idle": float(measured["idle_rss_mib"]), "loaded": float(measured["loaded_rss_mib"])}
