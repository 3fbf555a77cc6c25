#!/usr/bin/env python3
"""Integration events through the outbox, per broker (issue 19; a script, not a timed test).

For each --broker it renders a modular monolith (PostgreSQL, contexts orders and payments: payments consumes
orders.created), and beside them the same answers with `message_broker: none` as the baseline. It installs and
builds each, starts PostgreSQL and the brokers from tests/servers/, runs the migrations and starts every app in
production mode (tracing off). Then, alternating the apps in each of --rounds rounds:

    writes   autocannon POSTs /api/v1/orders for --duration s with --connections connections: req/s and p95 of
             the create, whose transaction also stores the event in the outbox (the baseline stores none);
    effect   once the load stops, the time until the last event's inbox row is written, and per event the
             latency from the order's commit (orders.created_at) to the consumer's inbox row (received_at),
             p50 and p95, both stamped by PostgreSQL's clock;
    relay    --backlog events inserted straight into integration_outbox while the relay is idle, then the time
             the relay takes to publish them all (their sent_at): its sustained publish rate.

    .venv/bin/python scripts/bench_events.py [--broker rabbitmq --broker nats] [--duration 10]
        [--connections 20] [--rounds 2] [--backlog 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_app import DRIVER, drive, wait_live  # noqa: E402
from helpers import Renderer, run  # noqa: E402
from node_runtime import npm_env  # noqa: E402
from servers import Servers  # noqa: E402
from test_app_e2e import JWT_SECRET, free_port, http, jwt  # noqa: E402

# A modular monolith on PostgreSQL: each module's tables in its own schema (orders.orders).
ANSWERS = {"architecture": "modular-monolith", "database": "postgresql", "bounded_contexts": ["orders", "payments"],
           "cache": False, "api_styles": ["rest"], "http_adapter": "fastify"}


def percentile_sql(table_filter: str) -> str:
    """p50, p95 and max of commit-to-effect in ms, and the number of effects, for the orders matching the filter."""
    latency = "EXTRACT(EPOCH FROM (i.received_at - o.created_at)) * 1000"
    return (f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {latency}), "
            f"percentile_cont(0.95) WITHIN GROUP (ORDER BY {latency}), max({latency}), count(*) "
            f"FROM orders.orders o JOIN integration_inbox i ON i.type = 'orders.created' AND i.consumer = 'payments' "
            f"AND (i.payload::json->>'id')::uuid = o.id WHERE {table_filter}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", action="append", choices=["rabbitmq", "nats", "kafka", "redis"])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    brokers = args.broker or ["rabbitmq", "nats"]

    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    renderer = Renderer(work)
    projects = {name: renderer.render(name, {**ANSWERS, "message_broker": name}) for name in [*brokers, "none"]}
    env = {key: value for key, value in {**os.environ, **npm_env("24")}.items() if not key.startswith("OTEL_")}
    node = shutil.which("node", path=env["PATH"]) or "node"
    for project in projects.values():
        for command in (["npm", "install"], ["npm", "run", "build"]):
            result = run(command, cwd=project, env=env, timeout=1200)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
                return 1
    driver = work / "driver.cjs"
    driver.write_text(DRIVER, encoding="utf-8")

    servers = Servers("postgresql", *brokers).start()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    databases: dict[str, str] = {}
    try:
        postgres = servers["postgresql"]
        for name, project in projects.items():
            databases[name] = f"bench_{name}"
            app_env = {**env, "NODE_ENV": "production", "LOG_LEVEL": "warn", "RATE_LIMIT_PER_MINUTE": "100000000",
                       "JWT_SECRET": JWT_SECRET, "JWT_ISSUER": "https://issuer.e2e", "JWT_AUDIENCE": "e2e",
                       "DATABASE_URL": postgres.create_database(databases[name])}
            if name == "redis":
                app_env["REDIS_URL"] = servers["redis"].url
            elif name != "none":
                app_env["BROKER_URL"] = servers[name].url
            result = run(["npm", "run", "migration:run"], cwd=project, env=app_env)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
                return 1
            port = free_port()
            start = json.loads((project / "package.json").read_text())["scripts"]["start:prod"]
            processes[name] = subprocess.Popen(["sh", "-c", f"exec {start}"], cwd=project, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, env={**app_env, "PORT": str(port)})
            urls[name] = f"http://127.0.0.1:{port}"
            wait_live(f"{urls[name]}/health/live", processes[name])
        token = jwt("https://issuer.e2e", "e2e")
        body = json.dumps({"name": "bench"})
        for url in urls.values():  # warm-up, and the consumers have joined before the first measured round
            assert http("POST", f"{url}/api/v1/orders", {"name": "warm-up"}, token).status == 201
        time.sleep(3)
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in urls}

        def record(name: str, key: str, value: float) -> None:
            figures[name].setdefault(key, []).append(value)

        def query(name: str, sql: str) -> list[list[str]]:
            return postgres.query(sql, databases[name])

        for _ in range(args.rounds):
            for name, url in urls.items():
                since = query(name, "SELECT now()")[0][0]
                load = drive(node, driver, f"{url}/api/v1/orders", args.connections, args.duration, token, body)
                record(name, "writes req/s", load["rps"])
                record(name, "write p95 ms", load["p95"])
                record(name, "non-2xx", load["non2xx"])
                if name == "none":
                    continue
                created = int(query(name, f"SELECT count(*) FROM orders.orders WHERE created_at >= '{since}'")[0][0])
                stopped = time.monotonic()
                while True:
                    p50, p95, worst, effects = query(name, percentile_sql(f"o.created_at >= '{since}'"))[0]
                    if int(effects) >= created or time.monotonic() - stopped > 120:
                        break
                    time.sleep(0.2)
                record(name, "lost events", created - int(effects))
                record(name, "effect p50 ms", float(p50))
                record(name, "effect p95 ms", float(p95))
                record(name, "effect max ms", float(worst))
                # The relay's own rate: a backlog inserted at once, published as fast as the broker accepts it.
                query(name, "INSERT INTO integration_outbox (event_id, type, envelope) SELECT e.id, 'orders.created', "
                            "json_build_object('id', e.id, 'type', 'orders.created', 'source', 'bench', 'occurredAt', "
                            "'2026-01-01T00:00:00.000Z', 'data', json_build_object('id', gen_random_uuid(), 'name', "
                            "'backlog', 'createdAt', '2026-01-01T00:00:00.000Z'))::text FROM (SELECT "
                            f"gen_random_uuid()::text AS id FROM generate_series(1, {args.backlog})) e")
                began = time.monotonic()
                while int(query(name, "SELECT count(*) FROM integration_outbox WHERE sent_at IS NULL")[0][0]):
                    if time.monotonic() - began > 300:
                        break
                    time.sleep(0.1)
                # Each batch gets one sent_at: the rate counts the rows after the first batch over the time
                # from the first batch's commit to the last's.
                backlog = f"envelope::json->>'source' = 'bench' AND sent_at > '{since}'"
                after_first, spread = query(
                    name, f"SELECT count(*) FILTER (WHERE sent_at > (SELECT min(sent_at) FROM integration_outbox "
                          f"WHERE {backlog})), EXTRACT(EPOCH FROM (max(sent_at) - min(sent_at))) "
                          f"FROM integration_outbox WHERE {backlog}")[0]
                record(name, "relay events/s", int(after_first) / max(float(spread or 0), 1e-3))
        mean = {name: {key: sum(values) / len(values) for key, values in keys.items()}
                for name, keys in figures.items()}
        print(f"\nNode 24, fastify, PostgreSQL; {args.connections} connections x {args.duration} s of POST "
              f"/api/v1/orders per app per round, {args.rounds} rounds alternating; backlog {args.backlog} "
              f"events; {os.cpu_count()} CPU, load generator and servers on the same machine.\n")
        keys = ["writes req/s", "write p95 ms", "non-2xx", "lost events", "effect p50 ms", "effect p95 ms",
                "effect max ms", "relay events/s"]
        print(f"{'app':10}" + "".join(f"{key:>16}" for key in keys))
        for name, values in mean.items():
            print(f"{name:10}" + "".join(f"{values[key]:>16.1f}" if key in values else f"{'-':>16}" for key in keys))
        base = mean["none"]["writes req/s"]
        print("\nwrite throughput against the baseline without a broker (no outbox row, no relay): "
              + ", ".join(f"{name} {mean[name]['writes req/s'] / base:.2f}x" for name in brokers))
        if args.json:
            args.json.write_text(json.dumps({"rounds": figures, "mean": mean}, indent=2), encoding="utf-8")
        return 0
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        servers.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
