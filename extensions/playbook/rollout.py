"""The deploy order of a release: which phase (and Argo CD sync wave) each kind of object belongs
to, read from extensions/data/rollout.yml. The base kustomization labels and annotates every object
by its kind; deploy/k8s/README.md and the document's section 14.5 print the same phases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .data import load_data

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"


def rendered_kinds(answers: Mapping[str, Any], exposed: bool, flows: list[dict[str, Any]]) -> set[str]:
    """The kinds of object a render's manifests hold."""
    kinds = {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "NetworkPolicy",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
    }
    route = {"gateway-api": "HTTPRoute", "ingress": "Ingress"}.get(answers["ingress"])
    if exposed and route is not None:
        kinds.add(route)
    if answers["service_mesh"] == "istio":
        kinds |= {"PeerAuthentication", "AuthorizationPolicy"}
    elif answers["service_mesh"] == "linkerd":
        kinds |= {"Server", "AuthorizationPolicy", "MeshTLSAuthentication"}
        if any(flow["to_app_port"] and not flow["meshed"] for flow in flows):
            kinds.add("NetworkAuthentication")
    return kinds


def rollout(answers: Mapping[str, Any], exposed: bool, flows: list[dict[str, Any]]) -> dict[str, Any]:
    """The phases, each with every kind it patches and the kinds this render holds (`rendered`)."""
    data = load_data("rollout")
    present = rendered_kinds(answers, exposed, flows)
    phases = [
        {
            "name": phase["name"],
            "wave": int(phase["wave"]),
            "kinds": list(phase["kinds"]),
            "rendered": [kind for kind in phase["kinds"] if kind in present],
            "kind_pattern": "^(" + "|".join(phase["kinds"]) + ")$",
        }
        for phase in data["phases"]
    ]
    return {
        "label": data["label"],
        "wave_annotation": WAVE_ANNOTATION,
        "phases": phases,
        "by_name": {phase["name"]: phase for phase in phases},
    }
