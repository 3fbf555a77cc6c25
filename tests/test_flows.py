"""The network flows of the model are exactly what the rendered policies admit, and the deploy
order applies what the migration Job needs before it and the new pods after it (issue 15, items 1
and 4).

For every render of the matrix and every overlay (the kustomize output the delivery scan already
made), a small evaluator reads the NetworkPolicies and computes, for each workload's pods, the set
of (direction, peer, protocol, port) they admit; it must equal the set the model's flows list.

The evaluator covers the NetworkPolicy fields the template uses: spec.podSelector.matchLabels (an
empty selector selects every pod), spec.policyTypes, ingress[].from[] and egress[].to[] with
namespaceSelector.matchLabels (by `kubernetes.io/metadata.name`), podSelector.matchLabels (alone:
pods of the policy's own namespace) and ipBlock.cidr/except, and ports[].protocol/port (numbers, or
names resolved against the pod's container ports). A rule without `ports` admits every port and one
without peers admits every peer: both show as "*" and never equal a flow, so such a rule fails the test. matchExpressions, endPort
and named ports of other pods are not used by the template and are refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import Renderer, answers_of, load_yaml, run, tool
from matrix import Combination
from test_delivery import DeliveryScan, delivery  # noqa: F401 (the session fixture)

from extensions.playbook import delivery as delivery_model
from extensions.playbook import model

ENVIRONMENTS = delivery_model.ENVIRONMENTS
NAME_LABEL = "kubernetes.io/metadata.name"

Peer = tuple[str, ...]
Admitted = set[tuple[str, Peer, str, Any]]


# ---------------------------------------------------------------------------------------------- evaluator


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"unsupported selector fields: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _peer_keys(peer: dict[str, Any]) -> list[Peer]:
    assert set(peer) <= {"namespaceSelector", "podSelector", "ipBlock"}, f"unsupported peer: {peer}"
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return [("cidr", block["cidr"], *sorted(block.get("except", [])))]
    pods = peer.get("podSelector", {})
    assert set(pods) <= {"matchLabels"}, pods
    labels = ",".join(f"{k}={v}" for k, v in sorted(pods.get("matchLabels", {}).items()))
    namespace = peer.get("namespaceSelector")
    if namespace is None:
        # a podSelector alone: pods of the policy's own namespace, selected by all their labels
        assert pods.get("matchLabels"), f"a peer that selects every pod of the namespace: {peer}"
        return [("pods", labels)]
    assert set(namespace) <= {"matchLabels"} and set(namespace.get("matchLabels", {})) <= {NAME_LABEL}, namespace
    name = namespace.get("matchLabels", {}).get(NAME_LABEL, "*")
    return [("namespace", name, labels)]


def admitted(policies: list[dict[str, Any]], pod_labels: dict[str, str], named_ports: dict[str, int]) -> Admitted:
    """Every (direction, peer, protocol, port) the policies selecting the pod admit."""
    result: Admitted = set()
    for policy in policies:
        spec = policy["spec"]
        if not _selects(spec["podSelector"], pod_labels):
            continue
        for direction, side in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []):
                assert direction.capitalize() in spec["policyTypes"], (
                    f"{policy['metadata']['name']}: {direction} rules without the policy type"
                )
                peers = [key for peer in rule.get(side, []) for key in _peer_keys(peer)] or [("*",)]
                ports = rule.get("ports") or [{"protocol": "*", "port": "*"}]
                for port in ports:
                    assert set(port) <= {"protocol", "port"}, f"unsupported port fields: {port}"
                    number = (
                        named_ports.get(port["port"], port["port"]) if isinstance(port["port"], str) else port["port"]
                    )
                    assert not isinstance(number, str) or number == "*", f"unknown named port {port['port']}"
                    for peer in peers:
                        result.add((direction, peer, port.get("protocol", "TCP"), number))
    return result


def connection_admitted(
    policies: list[dict[str, Any]],
    pod_labels: dict[str, str],
    named_ports: dict[str, int],
    direction: str,
    port: int,
    *,
    ip: str | None = None,
    namespace: str | None = None,
    peer_labels: dict[str, str] | None = None,
    protocol: str = "TCP",
) -> bool:
    """Whether one concrete connection is admitted: to or from an address, a pod in a namespace, or
    (namespace None, peer_labels given) a pod of the policy's own namespace."""
    selecting = [
        p
        for p in policies
        if _selects(p["spec"]["podSelector"], pod_labels) and direction.capitalize() in p["spec"]["policyTypes"]
    ]
    if not selecting:
        return True  # no policy of that type selects the pod: Kubernetes admits everything
    for policy in selecting:
        for rule in policy["spec"].get(direction, []):
            ports = rule.get("ports")
            if ports and not any(
                (named_ports.get(p["port"], p["port"]) == port) and p.get("protocol", "TCP") == protocol for p in ports
            ):
                continue
            peers = rule.get("from" if direction == "ingress" else "to")
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer and ip is not None:
                    address = ipaddress.ip_address(ip)
                    block = peer["ipBlock"]
                    if address in ipaddress.ip_network(block["cidr"]) and not any(
                        address in ipaddress.ip_network(e) for e in block.get("except", [])
                    ):
                        return True
                if "namespaceSelector" not in peer and "podSelector" in peer and namespace is None:
                    # pods of the policy's own namespace: the peer is one of them when its labels match
                    if peer_labels is not None and _selects(peer["podSelector"], peer_labels):
                        return True
                if "namespaceSelector" in peer and namespace is not None:
                    if _selects(peer["namespaceSelector"], {NAME_LABEL: namespace}) and _selects(
                        peer.get("podSelector", {}), peer_labels or {}
                    ):
                        return True
    return False


# ---------------------------------------------------------------------------------------------- expectation


def expected(flows: Iterable[dict[str, Any]], subnets: dict[str, str], named_ports: dict[str, int]) -> Admitted:
    result: Admitted = set()
    for flow in flows:
        peers: list[Peer] = []
        labels = ",".join(f"{k}={v}" for k, v in sorted(flow["pod_labels"].items()))
        if flow["namespace"]:
            peers.append(("namespace", flow["namespace"], labels))
        elif flow["pod_labels"]:
            peers.append(("pods", labels))
        cidrs = [subnets[flow["subnet"]]] if flow["subnet"] else flow["cidrs"]
        peers += [("cidr", cidr, *sorted(flow["except_cidrs"])) for cidr in cidrs]
        for port in flow["policy_ports"]:
            number = named_ports.get(port["port"], port["port"])
            result.update((flow["direction"], peer, port["protocol"], number) for peer in peers)
    return result


def container_ports(pod_spec: dict[str, Any]) -> dict[str, int]:
    return {
        port["name"]: port["containerPort"]
        for container in pod_spec["containers"]
        for port in container.get("ports", [])
        if "name" in port
    }


def workloads(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(service name, 'app' or 'migrate', pod template) of every Deployment and Job."""
    result = []
    for doc in docs:
        if doc["kind"] == "Deployment":
            result.append((doc["metadata"]["name"], "app", doc["spec"]["template"]))
        elif doc["kind"] == "Job":
            result.append((doc["metadata"]["name"].removesuffix("-migrate"), "migrate", doc["spec"]["template"]))
    return result


def the_model(rendered: Path) -> dict[str, Any]:
    return model.build(answers_of(rendered)).as_context()


# ---------------------------------------------------------------------------------------------- flows


def test_every_flow_is_admitted_and_nothing_else(
    rendered: Path,
    delivery: DeliveryScan,  # noqa: F811
    combination: Combination,
) -> None:
    context = the_model(rendered)
    for env in ENVIRONMENTS:
        docs = delivery.docs(combination.id, env)
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        deny = [p for p in policies if p["spec"]["podSelector"] == {}]
        assert len(deny) == 1 and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}, (
            f"{env}: one default-deny policy for every pod, both directions"
        )
        assert not deny[0]["spec"].get("ingress") and not deny[0]["spec"].get("egress")
        found = workloads(docs)
        assert {(s, w) for s, w, _ in found} == {(f["service"], f["workload"]) for f in context["flows"]["all"]}
        for service, workload, template in found:
            named = container_ports(template["spec"])
            flows = [f for f in context["flows"]["all"] if f["service"] == service and f["workload"] == workload]
            want = expected(flows, context["flows"]["subnets"][env], named)
            got = admitted(policies, template["metadata"]["labels"], named)
            assert got == want, (
                f"{combination.id} {env} {service}/{workload}:\n  admitted, not a flow: "
                f"{sorted(map(str, got - want))}\n  a flow, not admitted: {sorted(map(str, want - got))}"
            )


def _app_policies(scan: DeliveryScan, combo: str, env: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    docs = scan.docs(combo, env)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return [d for d in docs if d["kind"] == "NetworkPolicy"], deployment["spec"]["template"]


def test_connections_the_code_makes_are_admitted(
    rendered: Path,
    delivery: DeliveryScan,  # noqa: F811
    combination: Combination,
) -> None:
    """Concrete connections, evaluated address by address: what the app must reach, and what it must not."""
    answers = answers_of(rendered)
    context = the_model(rendered)
    policies, template = _app_policies(delivery, combination.id, "prod")
    labels, named = template["metadata"]["labels"], container_ports(template["spec"])
    subnet = ipaddress.ip_network(context["flows"]["subnets"]["prod"]["data"])
    database = next(f for f in context["flows"]["all"] if f["key"] == "database")["ports"][0]["port"]
    inside = str(next(subnet.hosts()))
    assert connection_admitted(policies, labels, named, "egress", database, ip=inside)
    assert not connection_admitted(policies, labels, named, "egress", database, ip="10.200.0.5"), (
        "the database port is open beyond the data subnet"
    )
    assert connection_admitted(
        policies,
        labels,
        named,
        "egress",
        53,
        protocol="UDP",
        namespace="kube-system",
        peer_labels={"k8s-app": "kube-dns"},
    )
    assert not connection_admitted(policies, labels, named, "egress", 53, protocol="UDP", namespace="default")
    issuer = connection_admitted(policies, labels, named, "egress", 443, ip="203.0.113.10")
    assert issuer == (answers["auth"] == "oidc"), "HTTPS to a public address (the OIDC issuer) iff auth is oidc"
    assert not connection_admitted(policies, labels, named, "egress", 443, ip="10.1.2.3"), (
        "HTTPS to private addresses is not part of the OIDC flow"
    )
    port = named["http"]
    assert not connection_admitted(policies, labels, named, "ingress", port, namespace="default"), (
        "an arbitrary namespace reaches the app"
    )
    assert connection_admitted(policies, labels, named, "ingress", port, namespace="monitoring")
    edge = next((f for f in context["flows"]["all"] if f["key"] == "edge"), None)
    if edge is not None and edge["namespace"]:
        assert connection_admitted(policies, labels, named, "ingress", port, namespace=edge["namespace"])
    if answers["ingress"] == "ingress" and answers["cloud"] == "azure":
        assert edge is not None and edge["namespace"] == "app-routing-system"
        assert connection_admitted(policies, labels, named, "ingress", port, namespace="app-routing-system")
        assert not connection_admitted(policies, labels, named, "ingress", port, namespace="gateway-system")
    if answers["service_mesh"] == "istio":
        assert not connection_admitted(policies, labels, named, "ingress", 15008, namespace="default"), (
            "HBONE (15008) is open from every namespace"
        )
    check_grpc_calls_admitted(delivery, combination.id, context)


def check_grpc_calls_admitted(scan: DeliveryScan, combo: str, context: dict[str, Any]) -> None:
    """Each gRPC call of the model, pod to pod in the namespace: the caller's policy lets it out, the
    owner's lets it in; a service that does not call the owner is refused, and so is every pod
    without a call."""
    docs = scan.docs(combo, "prod")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = {d["metadata"]["name"]: d["spec"]["template"] for d in docs if d["kind"] == "Deployment"}
    grpc = context["api"]["grpc"]["port"]
    for call in context["grpc_calls"]:
        caller, callee = pods[call["caller_service"]], pods[call["callee_service"]]
        caller_labels, callee_labels = caller["metadata"]["labels"], callee["metadata"]["labels"]
        assert connection_admitted(policies, caller_labels, container_ports(caller["spec"]), "egress", grpc,
                                   peer_labels=callee_labels), f"{call['caller_service']} cannot call out"
        named = container_ports(callee["spec"])
        assert named.get("grpc") == grpc, "the owner's container names its gRPC port"
        assert connection_admitted(policies, callee_labels, named, "ingress", grpc, peer_labels=caller_labels), (
            f"{call['callee_service']} refuses its caller {call['caller_service']}"
        )
        others = [name for name in pods if name not in (call["caller_service"], call["callee_service"])
                  and not any(c["caller_service"] == name and c["callee_service"] == call["callee_service"]
                              for c in context["grpc_calls"])]
        for other in others:
            assert not connection_admitted(policies, callee_labels, named, "ingress", grpc,
                                           peer_labels=pods[other]["metadata"]["labels"]), (
                f"{other} reaches {call['callee_service']}'s gRPC port without a call"
            )
        assert not connection_admitted(policies, callee_labels, named, "ingress", grpc,
                                       peer_labels={"app.kubernetes.io/name": "intruder"})
    if not context["grpc_calls"]:
        for name, pod in pods.items():
            assert not connection_admitted(policies, pod["metadata"]["labels"], container_ports(pod["spec"]),
                                           "ingress", grpc, peer_labels={"app.kubernetes.io/name": "x"}), name


def _mesh_docs(scan: DeliveryScan, combo: str, env: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in scan.docs(combo, env) if d["kind"] == kind]


def test_istio_authorises_exactly_the_flows_and_the_ingress_path_works(
    rendered: Path,
    delivery: DeliveryScan,  # noqa: F811
    combination: Combination,
) -> None:
    answers = answers_of(rendered)
    if answers["service_mesh"] != "istio":
        assert (
            not _mesh_docs(delivery, combination.id, "prod", "AuthorizationPolicy")
            or answers["service_mesh"] == "linkerd"
        )
        return
    context = the_model(rendered)
    port = str(context["flows"]["app_port"])
    for env in ENVIRONMENTS:
        policies = [p for p in _mesh_docs(delivery, combination.id, env, "AuthorizationPolicy")]
        for service in context["delivery"]["services"]:
            mine = [
                p
                for p in policies
                if p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == service["name"]
            ]
            assert mine and all(p["spec"]["action"] == "ALLOW" for p in mine)
            rules = {
                (
                    tuple(sorted(src.get("namespaces", []))),
                    tuple(sorted(src.get("ipBlocks", []))),
                    tuple(sorted(src.get("principals", []))),
                    tuple(op["operation"]["ports"][0] for op in rule["to"]),
                )
                for p in mine
                for rule in p["spec"]["rules"]
                for src in (s["source"] for s in rule["from"])
            }
            want = set()
            for flow in context["flows"]["all"]:
                if flow["service"] == service["name"] and flow["key"] == "grpc-server":
                    # by the caller's service account (named as its pods), on the gRPC port
                    caller = flow["pod_labels"]["app.kubernetes.io/name"]
                    want.add(((), (), (f"*/sa/{caller}",), (str(context["api"]["grpc"]["port"]),)))
                if flow["service"] != service["name"] or not flow["to_app_port"] or flow["key"] == "probes":
                    continue
                if flow["meshed"]:
                    want.add(((flow["namespace"],), (), (), (port,)))
                else:
                    cidrs = [context["flows"]["subnets"][env][flow["subnet"]]] if flow["subnet"] else flow["cidrs"]
                    want.add(((), tuple(sorted(cidrs)), (), (port,)))
            assert rules == want, f"{env} {service['name']}: {rules} != {want}"
            migrate = [
                p
                for p in policies
                if p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == service["name"] + "-migrate"
            ]
            assert len(migrate) == 1 and not migrate[0]["spec"].get("rules"), "the migration Job accepts nothing"
        # The edge reaches the pods: either from inside the mesh, or through a PERMISSIVE app port.
        edge = [f for f in context["flows"]["all"] if f["key"] == "edge"]
        peer_auth = _mesh_docs(delivery, combination.id, env, "PeerAuthentication")
        assert any(p["spec"]["mtls"]["mode"] == "STRICT" and "selector" not in p["spec"] for p in peer_auth)
        permissive = [
            p for p in peer_auth if p["spec"].get("portLevelMtls", {}).get(port, {}).get("mode") == "PERMISSIVE"
        ]
        if any(not f["meshed"] for f in edge):
            assert len(permissive) == len({f["service"] for f in edge}), (
                "a plaintext load balancer needs a PERMISSIVE app port"
            )
        else:
            assert not permissive, "no plaintext exception without a load balancer outside the mesh"


def test_linkerd_authorises_exactly_the_flows(
    rendered: Path,
    delivery: DeliveryScan,  # noqa: F811
    combination: Combination,
) -> None:
    answers = answers_of(rendered)
    if answers["service_mesh"] != "linkerd":
        assert not _mesh_docs(delivery, combination.id, "prod", "Server")
        return
    context = the_model(rendered)
    for env in ENVIRONMENTS:
        docs = delivery.docs(combination.id, env)
        by_kind: dict[str, dict[str, dict[str, Any]]] = {}
        for doc in docs:
            by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        for service in context["delivery"]["services"]:
            server = by_kind["Server"][f"{service['name']}-http"]
            assert server["spec"]["port"] == "http"
            authorisations = [
                a
                for a in by_kind["AuthorizationPolicy"].values()
                if a["spec"]["targetRef"]["name"] == server["metadata"]["name"]
            ]
            namespaces, cidrs = set(), set()
            for authorisation in authorisations:
                for ref in authorisation["spec"]["requiredAuthenticationRefs"]:
                    target = by_kind[ref["kind"]][ref["name"]]
                    if ref["kind"] == "MeshTLSAuthentication":
                        namespaces |= {i["namespace"] for i in target["spec"]["identityRefs"]}
                    else:
                        cidrs |= {n["cidr"] for n in target["spec"]["networks"]}
            flows = [f for f in context["flows"]["all"] if f["service"] == service["name"] and f["to_app_port"]]
            assert namespaces == {f["namespace"] for f in flows if f["meshed"]}
            want_cidrs = set()
            for flow in flows:
                if not flow["meshed"]:
                    want_cidrs |= set(
                        [context["flows"]["subnets"][env][flow["subnet"]]] if flow["subnet"] else flow["cidrs"]
                    )
            assert cidrs == want_cidrs
            # the gRPC port: a Server of its own, authorised for exactly the callers' service accounts
            callers = {f["pod_labels"]["app.kubernetes.io/name"] for f in context["flows"]["all"]
                       if f["service"] == service["name"] and f["key"] == "grpc-server"}
            grpc_server = by_kind.get("Server", {}).get(f"{service['name']}-grpc")
            if not callers:
                assert grpc_server is None
                continue
            assert grpc_server is not None and grpc_server["spec"]["port"] == "grpc"
            assert grpc_server["spec"]["proxyProtocol"] == "gRPC"
            accounts = set()
            for authorisation in by_kind["AuthorizationPolicy"].values():
                if authorisation["spec"]["targetRef"]["name"] != grpc_server["metadata"]["name"]:
                    continue
                for ref in authorisation["spec"]["requiredAuthenticationRefs"]:
                    assert ref["kind"] == "MeshTLSAuthentication", ref
                    for identity in by_kind[ref["kind"]][ref["name"]]["spec"]["identityRefs"]:
                        assert identity["kind"] == "ServiceAccount" and "namespace" not in identity, identity
                        accounts.add(identity["name"])
            assert accounts == callers
            service_accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
            assert callers <= service_accounts, "a caller is authorised by a service account that does not exist"


def test_edge_annotations_ask_for_the_mode_the_flow_describes(
    rendered: Path,
    delivery: DeliveryScan,  # noqa: F811
    combination: Combination,
) -> None:
    answers = answers_of(rendered)
    docs = delivery.docs(combination.id, "prod")
    ingress = next((d for d in docs if d["kind"] == "Ingress"), None)
    if answers["ingress"] == "ingress" and answers["cloud"] == "aws" and ingress is not None:
        assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"
    if answers["ingress"] == "ingress" and answers["cloud"] == "gcp" and ingress is not None:
        routed = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
        for service in (d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] in routed):
            assert service["metadata"]["annotations"]["cloud.google.com/neg"] == '{"ingress": true}'


def test_overlay_subnets_are_documented_placeholders(rendered: Path) -> None:
    context = the_model(rendered)
    for env in ENVIRONMENTS:
        text = (rendered / "deploy" / "k8s" / "overlays" / env / "network.yaml").read_text(encoding="utf-8")
        data = context["flows"]["subnets"][env]["data"]
        assert data in text and "placeholder" in text.lower() and "Replace them" in text


# ---------------------------------------------------------------------------------------------- deploy order


def test_the_migration_job_runs_after_what_it_needs_and_before_the_pods(
    rendered: Path,
    delivery: DeliveryScan,  # noqa: F811
    combination: Combination,
) -> None:
    context = the_model(rendered)
    rollout = context["rollout"]
    phase_wave = {phase["name"]: phase["wave"] for phase in rollout["phases"]}
    for env in ENVIRONMENTS:
        docs = delivery.docs(combination.id, env)

        def wave(doc: dict[str, Any]) -> int:
            label = doc["metadata"].get("labels", {}).get(rollout["label"])
            annotation = doc["metadata"].get("annotations", {}).get(rollout["wave_annotation"])
            assert label in phase_wave, f"{doc['kind']} {doc['metadata']['name']} has no deploy phase"
            assert annotation == str(phase_wave[label]), f"{doc['kind']} {doc['metadata']['name']}: wave {annotation}"
            return phase_wave[label]

        waves = {(d["kind"], d["metadata"]["name"]): wave(d) for d in docs}
        assert {d["kind"] for d in docs} == {k for phase in rollout["phases"] for k in phase["rendered"]}, (
            "the phase table names exactly the kinds the overlay renders"
        )
        jobs = [d for d in docs if d["kind"] == "Job"]
        assert jobs
        for job in jobs:
            annotations = job["metadata"]["annotations"]
            assert annotations["argocd.argoproj.io/hook"] == "Sync", "a PreSync hook runs before its ConfigMap exists"
            assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
            pod = job["spec"]["template"]
            needs = [("Namespace", job["metadata"]["namespace"]), ("ServiceAccount", pod["spec"]["serviceAccountName"])]
            for container in pod["spec"]["containers"]:
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        needs.append(("ConfigMap", source["configMapRef"]["name"]))
                for var in container.get("env", []):
                    ref = var.get("valueFrom", {}).get("configMapKeyRef")
                    if ref:
                        needs.append(("ConfigMap", ref["name"]))
            needs += [
                ("NetworkPolicy", p["metadata"]["name"])
                for p in docs
                if p["kind"] == "NetworkPolicy" and _selects(p["spec"]["podSelector"], pod["metadata"]["labels"])
            ]
            assert any(kind == "ConfigMap" for kind, _ in needs) and any(kind == "NetworkPolicy" for kind, _ in needs)
            for need in needs:
                assert need in waves, f"{env}: the Job needs {need}, which the overlay does not render"
                assert waves[need] < waves[("Job", job["metadata"]["name"])], (
                    f"{env}: {need} is not applied before the Job"
                )
        for doc in docs:
            if doc["kind"] in ("Deployment", "Service", "HorizontalPodAutoscaler"):
                assert waves[(doc["kind"], doc["metadata"]["name"])] > max(
                    waves[("Job", j["metadata"]["name"])] for j in jobs
                )


def test_the_deploy_readme_applies_the_phases_in_order(rendered: Path) -> None:
    context = the_model(rendered)
    rollout = context["rollout"]
    text = (rendered / "deploy" / "k8s" / "README.md").read_text(encoding="utf-8")
    label = re.escape(rollout["label"])
    applied = re.findall(rf"kubectl apply -k \S+ -l {label}=(\w+)", text)
    assert applied == [phase["name"] for phase in rollout["phases"]]
    # The Job is deleted before it is applied again, and waited for before the workload.
    delete = text.index("delete job -l")
    wait = text.index("wait --for=condition=complete job")
    assert (
        delete < text.index(f"-l {rollout['label']}=migration") < wait < text.index(f"-l {rollout['label']}=workload")
    )
    assert load_yaml(rendered / "deploy" / "k8s" / "base" / "kustomization.yaml")["patches"]


# ---------------------------------------------------------------------------------------------- compose


def test_compose_networks_carry_the_flows_and_separate_the_rest(rendered: Path) -> None:
    context = the_model(rendered)
    compose = load_yaml(rendered / "docker-compose.yml")
    services = compose["services"]
    declared = set(compose["networks"])
    assert declared == set(context["flows"]["compose"]["names"])
    joined = {name: set(spec.get("networks", [])) for name, spec in services.items()}
    assert all(joined[name] and joined[name] <= declared for name in services), "every container names its networks"
    servers = {server["host"]: server for server in context["servers"]}
    observability = (
        set(services)
        - set(servers)
        - {c for s in context["delivery"]["services"] for c in (s["name"], s["name"] + "-migrate")}
    )
    for server in servers:
        assert not joined[server] & joined[next(iter(observability))], (
            f"{server} shares a network with the observability stack"
        )
    for service in context["delivery"]["services"]:
        for flow in (f for f in context["flows"]["all"] if f["service"] == service["name"]):
            container = service["name"] if flow["workload"] == "app" else service["name"] + "-migrate"
            if flow["key"] in ("database", "redis", "broker"):
                peer = next(s["host"] for s in context["servers"] if s["role"] == flow["key"])
            elif flow["key"] in ("otel", "prometheus"):
                peer = context["delivery"]["platform"]["otel_service"] if flow["key"] == "otel" else "prometheus"
            elif flow["key"] in ("grpc-client", "grpc-server"):
                peer = flow["pod_labels"]["app.kubernetes.io/name"]  # the other service's container
            else:
                continue
            assert joined[container] & joined[peer], f"{container} cannot reach {peer} ({flow['key']})"
        assert not joined[service["name"] + "-migrate"] & joined["prometheus"], (
            "the migration joins only the data network"
        )


# ---------------------------------------------------------------------------------------------- beyond the matrix

# Edges the matrix does not combine with a mesh: a load balancer that connects to the pods itself
# (the ALB's subnet per overlay, Google's fixed ranges) in front of Istio's STRICT mTLS or Linkerd.
EXTRA = [
    # with the services' gRPC calls (calls.py) authorised by service account in each mesh
    Combination("flows-istio-ingress-aws", {"service_mesh": "istio", "ingress": "ingress", "cloud": "aws",
                                            "auth": "oidc", "architecture": "microservices",
                                            "message_broker": "nats", "api_styles": ["rest", "grpc"]}),
    Combination("flows-linkerd-ingress-gcp", {"service_mesh": "linkerd", "ingress": "ingress", "cloud": "gcp",
                                              "architecture": "microservices", "message_broker": "nats",
                                              "api_styles": ["rest", "grpc"]}),
    Combination("flows-linkerd-ingress-aws", {"service_mesh": "linkerd", "ingress": "ingress", "cloud": "aws",
                                              "cache": True, "message_broker": "rabbitmq"}),
]


class Kustomized:
    """The overlays of one render through `kubectl kustomize`, with DeliveryScan's `docs` signature."""

    def __init__(self, rendered: Path) -> None:
        self.rendered = rendered
        self.cache: dict[str, list[dict[str, Any]]] = {}

    def docs(self, combo: str, env: str) -> list[dict[str, Any]]:
        if env not in self.cache:
            result = run([tool("kubectl"), "kustomize", str(self.rendered / "deploy" / "k8s" / "overlays" / env)])
            assert result.returncode == 0, result.stderr
            self.cache[env] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return self.cache[env]


@pytest.mark.parametrize("extra", EXTRA, ids=[c.id for c in EXTRA])
def test_load_balancers_outside_the_mesh(renderer: Renderer, extra: Combination) -> None:
    rendered = renderer.render(extra.id, extra.answers)
    scan = Kustomized(rendered)
    for check in (test_every_flow_is_admitted_and_nothing_else, test_connections_the_code_makes_are_admitted,
                  test_istio_authorises_exactly_the_flows_and_the_ingress_path_works,
                  test_linkerd_authorises_exactly_the_flows, test_edge_annotations_ask_for_the_mode_the_flow_describes,
                  test_the_migration_job_runs_after_what_it_needs_and_before_the_pods):
        check(rendered, scan, extra)  # type: ignore[arg-type]
    edge = [f for f in the_model(rendered)["flows"]["all"] if f["key"] == "edge"]
    assert edge and not any(f["meshed"] for f in edge), "these renders put the load balancer outside the mesh"
