"""The network flows every workload needs, as data: who talks to whom, on which ports, and why.

The NetworkPolicies of the base and of each overlay, the Istio and Linkerd authorisation
resources, the deploy README and the document's flow table are all rendered from this list, and
tests/test_flows.py checks that the rendered policies admit exactly these flows.

A flow's peer is a namespace (with optional pod labels), fixed address ranges, or a `subnet`: a
placeholder range that each overlay names (network.yml) because only the team knows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import backing
from .calls import GrpcCall
from .contexts import APP_PORT, Service
from .data import image_port, load_data
from .delivery import MESH_NAMESPACES, OTLP_HTTP_PORT, PLATFORM, public_paths, selector_labels
from .features import needs_redis

APP = "app"
MIGRATE = "migrate"


@dataclass(frozen=True)
class Port:
    port: int | str  # "http" is the app container's named port
    protocol: str = "TCP"


@dataclass(frozen=True)
class Flow:
    key: str
    service: str
    workload: str  # APP (the Deployment's pods) or MIGRATE (the migration Job's pod)
    direction: str  # "ingress" (to the workload) or "egress" (from it)
    peer: str
    why: str
    ports: list[Port]
    namespace: str | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    cidrs: list[str] = field(default_factory=list)
    except_cidrs: list[str] = field(default_factory=list)
    subnet: str | None = None  # a placeholder range per overlay (network.yml `subnets`)
    meshed: bool = False  # the peer is in the service mesh (mTLS identity, HBONE)
    # What the NetworkPolicy admits: the ports, plus Istio's HBONE port for a meshed peer.
    policy_ports: list[Port] = field(default_factory=list)

    @property
    def in_overlay(self) -> bool:
        return self.subnet is not None


def network() -> dict[str, Any]:
    return load_data("network")


def _edge(answers: Mapping[str, Any], service_name: str) -> Flow:
    source = edge_source(answers) or {}
    namespace = source.get("namespace")
    if namespace == "platform gateway":
        namespace = PLATFORM["gateway_namespace"]
    return Flow(
        "edge",
        service_name,
        APP,
        "ingress",
        source["peer"],
        source["why"],
        [Port("http")],
        namespace=namespace,
        cidrs=list(source.get("cidrs", [])),
        subnet=source.get("subnet"),
        meshed="namespace" in source,
    )


def _broker(answers: Mapping[str, Any], service_name: str, workload: str) -> Flow | None:
    broker = answers["message_broker"]
    if broker in ("none", "redis"):
        return None  # Redis carries the events: the redis flow covers it
    label = backing.BROKERS[broker]["label"]
    port = [Port(image_port(backing.BROKERS[broker]["image"]))]
    host = backing.CLUSTER_BROKER_HOSTS.get(broker)
    namespace = None if host is None else host.split(".")[1]
    why = (f"BROKER_URL points at {host}, a broker in the {namespace} namespace" if host is not None
           else "the broker's address comes from the Secret; it runs outside the cluster")
    return Flow("broker", service_name, workload, "egress", label, why, port, namespace=namespace,
                subnet="data" if host is None else None)


def _database(answers: Mapping[str, Any], service_name: str, workload: str) -> Flow:
    label = backing.DATABASES[answers["database"]]["label"]
    return Flow(
        "database",
        service_name,
        workload,
        "egress",
        label,
        "DATABASE_URL comes from the Secret; the managed database is in the data subnet",
        [Port(backing.database_port(answers))],
        subnet="data",
    )


def _dns(service_name: str, workload: str) -> Flow:
    dns = network()["dns"]
    return Flow(
        "dns",
        service_name,
        workload,
        "egress",
        "cluster DNS",
        "every host name is resolved by kube-dns (or NodeLocal DNSCache)",
        [Port(53, "UDP"), Port(53, "TCP")],
        namespace=dns["namespace"],
        pod_labels=dict(dns["pod_labels"]),
        cidrs=list(dns["cidrs"]),
    )


def _linkerd_control_plane(service_name: str, workload: str, namespace: str) -> Flow:
    ports = [Port(p) for p in network()["linkerd"]["control_plane_ports"]]
    return Flow(
        "linkerd-control-plane",
        service_name,
        workload,
        "egress",
        "the Linkerd control plane",
        "the proxy asks the destination, identity and policy controllers",
        ports,
        namespace=namespace,
    )


def _grpc_calls(service: Service, calls: Sequence[GrpcCall]) -> list[Flow]:
    """The gRPC calls this service's pods make to a service of the namespace, and receive from one."""
    port = [Port(load_data("api")["grpc"]["port"])]
    result = []
    for call in calls:
        why = f"the {call.caller} service's {call.client} calls {call.method} at {call.env_var} ({call.cluster_url})"
        if call.caller_service == service.name:
            result.append(Flow("grpc-client", service.name, APP, "egress", f"the {call.callee} service", why, port,
                               pod_labels=selector_labels(call.callee_service), meshed=True))
        if call.callee_service == service.name:
            result.append(Flow("grpc-server", service.name, APP, "ingress", f"the {call.caller} service", why, port,
                               pod_labels=selector_labels(call.caller_service), meshed=True))
    return result


def service_flows(answers: Mapping[str, Any], service: Service, calls: Sequence[GrpcCall] = ()) -> list[Flow]:
    """The flows of one service's pods and of its migration Job, before mesh ports are added."""
    net = network()
    mesh = answers["service_mesh"]
    mesh_namespace = MESH_NAMESPACES.get(mesh, "")
    name = service.name
    flows: list[Flow] = []
    if answers["ingress"] != "none" and public_paths(answers, service):
        flows.append(_edge(answers, name))
    flows.append(
        Flow(
            "prometheus",
            name,
            APP,
            "ingress",
            "Prometheus",
            "the ServiceMonitor scrapes /metrics on the http port",
            [Port("http")],
            namespace=PLATFORM["monitoring_namespace"],
            meshed=True,
        )
    )
    if mesh == "istio":
        flows.append(
            Flow(
                "probes",
                name,
                APP,
                "ingress",
                "the kubelet's probes",
                "in the ambient mesh ztunnel sends the kubelet's probes from this address",
                [Port("http")],
                cidrs=[net["istio_probe_source"]],
            )
        )
    elif mesh == "linkerd":
        flows.append(
            Flow(
                "linkerd-viz",
                name,
                APP,
                "ingress",
                "linkerd-viz",
                "linkerd-viz's Prometheus scrapes the proxy's admin port",
                [Port(net["linkerd"]["proxy_admin_port"])],
                namespace=net["linkerd"]["viz_namespace"],
            )
        )
    flows.append(_dns(name, APP))
    flows += _grpc_calls(service, calls)
    flows.append(_database(answers, name, APP))
    if needs_redis(answers):
        flows.append(
            Flow(
                "redis",
                name,
                APP,
                "egress",
                "Redis",
                "REDIS_URL comes from the Secret; the managed Redis is in the data subnet",
                [Port(image_port("redis"))],
                subnet="data",
            )
        )
    broker = _broker(answers, name, APP)
    if broker is not None:
        flows.append(broker)
    if answers["auth"] == "oidc":
        flows.append(
            Flow(
                "oidc",
                name,
                APP,
                "egress",
                "the OpenID Connect issuer",
                "the token guard fetches OIDC_ISSUER_URL's discovery document and JWKS over HTTPS; "
                "a NetworkPolicy cannot name a host, so any public address on 443 is admitted",
                [Port(443)],
                cidrs=["0.0.0.0/0"],
                except_cidrs=list(net["private_ranges"]),
            )
        )
    flows.append(
        Flow(
            "otel",
            name,
            APP,
            "egress",
            "the OpenTelemetry collector",
            f"OTEL_EXPORTER_OTLP_ENDPOINT is {PLATFORM['otel_service']}.{PLATFORM['otel_namespace']} (OTLP over HTTP)",
            [Port(OTLP_HTTP_PORT)],
            namespace=PLATFORM["otel_namespace"],
        )
    )
    if mesh == "linkerd":
        flows.append(_linkerd_control_plane(name, APP, mesh_namespace))
    flows.append(_dns(name, MIGRATE))
    flows.append(_database(answers, name, MIGRATE))
    if mesh == "linkerd":
        flows.append(_linkerd_control_plane(name, MIGRATE, mesh_namespace))
    return [_with_policy_ports(answers, flow) for flow in flows]


def _with_policy_ports(answers: Mapping[str, Any], flow: Flow) -> Flow:
    ports = list(flow.ports)
    # ingress from a meshed peer, and egress to a meshed pod of the namespace (ztunnel connects to it)
    to_mesh = flow.direction == "ingress" or (flow.pod_labels and not flow.namespace)
    if answers["service_mesh"] == "istio" and flow.meshed and to_mesh:
        ports.append(Port(network()["istio_hbone_port"]))
    return Flow(**{**flow.__dict__, "policy_ports": ports})


def as_dict(flow: Flow) -> dict[str, Any]:
    to_app_port = flow.direction == "ingress" and any(port.port == "http" for port in flow.ports)
    return asdict(flow) | {"in_overlay": flow.in_overlay, "to_app_port": to_app_port}


def compose_networks(every: list[Flow]) -> dict[str, Any]:
    """The compose networks each container joins: an app or migration container the networks of
    its flows, the backing servers `data`, the observability stack `telemetry`."""
    by_key = {key: name for name, keys in network()["compose_networks"].items() for key in keys}
    joins: dict[str, list[str]] = {}
    for flow in every:
        container = flow.service if flow.workload == APP else f"{flow.service}-{MIGRATE}"
        name = by_key.get(flow.key)
        if name is not None and name not in joins.setdefault(container, []):
            joins[container].append(name)
    joined = {name for names in joins.values() for name in names}
    order = [name for name in network()["compose_networks"] if name in joined]
    joins = {container: sorted(names, key=order.index) for container, names in joins.items()}
    return {"names": order, "containers": joins, "backing": by_key["database"], "telemetry": by_key["otel"]}


def edge_source(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """network.yml's edge entry of the `ingress` answer on the `cloud` answer."""
    if answers["ingress"] == "none":
        return None
    by_cloud = network()["edge"][answers["ingress"]]
    return dict(by_cloud.get(answers["cloud"], by_cloud.get("any")))


def flows(answers: Mapping[str, Any], services: list[Service], calls: Sequence[GrpcCall] = ()) -> dict[str, Any]:
    """The model's `flows`: every flow, the app port number the mesh policies name, the mesh and
    the placeholder subnets of each overlay."""
    every = [flow for service in services for flow in service_flows(answers, service, calls)]
    mesh = answers["service_mesh"]
    plaintext_edge = [f for f in every if f.key == "edge" and not f.meshed]
    return {
        "all": [as_dict(flow) for flow in every],
        "app_port": APP_PORT,
        "mesh": mesh,
        # Istio STRICT mTLS would refuse a load balancer that connects to the pods itself: the app
        # port then accepts plaintext too (PERMISSIVE), and the NetworkPolicy admits only the
        # load balancer's ranges on it.
        "permissive_app_port": mesh == "istio" and bool(plaintext_edge),
        "hbone_port": network()["istio_hbone_port"] if mesh == "istio" else None,
        # who sends the public traffic, as a sentence starts ("The ..."), or None without an edge flow
        "edge_peer": next((f.peer[0].upper() + f.peer[1:] for f in every if f.key == "edge"), None),
        "subnets": dict(network()["subnets"]),
        "compose": compose_networks(every),
        "overlay_needed": any(flow.in_overlay for flow in every),
        # what the Ingress and the Services carry so that the edge connects the way its flow says
        "ingress_annotations": dict((edge_source(answers) or {}).get("ingress_annotations", {})),
        "service_annotations": dict((edge_source(answers) or {}).get("service_annotations", {})),
    }
