#!/usr/bin/env python3
"""Performance of the generated app against a bare NestJS app (issues 4 and 19; a script, not a timed test).

It renders the template with its default answers, installs and builds the app, starts PostgreSQL (and whatever
else the defaults need) from tests/servers/, runs the migrations, times --starts cold starts of the app to its
first ready answer and reads its idle RSS (tracing off), then starts it with `npm run start:prod`
(NODE_ENV=production, LOG_LEVEL=info, as deployed). Beside it runs a bare NestJS app on the same node_modules
(so the same NestJS version and HTTP adapter): GET / returns JSON, and GET /api/v1/<context>/:id reads the first
context's record the idiomatic way (@nestjs/typeorm, findOneBy; no token, logging, headers or validation).
autocannon (tests/node, 9.0.0) then drives, alternating in the same run, for --duration seconds with
--connections connections each:

    bare  GET /                         the baseline of the probe
    app   GET /health/live              the probe: the adapter's request hooks (security headers, request id)
    bare  GET /api/v1/<context>/:id     the baseline of the read: findOneBy, nothing else
    app   GET /api/v1/<context>/:id     the same read in the generated app (token, logging, rate limit, ...)
    app   POST /graphql <entity>(id)    the same read as a GraphQL query, when the answers include graphql

Every response latency is recorded (autocannon's own summary has no p95), and the script prints req/s,
p50/p95/p99 per target and the ratios, and checks issue 19's targets: the authenticated database GET at least
0.8 of the bare read's throughput and at most 1.25 times its p95, /health/live at least 0.8 of bare's
throughput, start to ready at most 1.5 s and idle RSS at most 160 MiB.

    .venv/bin/python scripts/bench_app.py [--duration 15] [--connections 50] [--rounds 2] [--starts 3]
        [--json out.json] [--answers '{"api_styles": ["rest", "graphql", "grpc", "websocket"]}']
        [--baseline-answers '{}']

With --baseline-answers a second generated app (those answers over the defaults) runs beside the first, and its
database GET alternates with the other targets: the ratio says what the first answers cost on the same read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from helpers import NODE_TOOLS, Renderer, run  # noqa: E402
from node_runtime import npm_env  # noqa: E402
from servers import Servers, kinds_for_answers  # noqa: E402
from test_app_e2e import JWT_SECRET, free_port, http, jwt  # noqa: E402

from extensions.playbook import model  # noqa: E402
from extensions.playbook.naming import camel_case, singular  # noqa: E402

BARE_APP = r"""
// The baselines: a bare NestJS app on the generated app's own node_modules (so the same NestJS version and
// HTTP adapter). GET / returns JSON; GET /api/v1/<context>/:id reads the first context's record the idiomatic
// way, TypeORM's findOneBy through @nestjs/typeorm, with no token, validation, logging or headers.
require('reflect-metadata');
const { Controller, Get, Inject, Module, NotFoundException, Param } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { TypeOrmModule, getRepositoryToken } = require('@nestjs/typeorm');
const { EntitySchema } = require('typeorm');
const adapterName = process.env.BENCH_ADAPTER;
const Record = new EntitySchema({
  name: 'Record', tableName: process.env.BENCH_TABLE, schema: process.env.BENCH_SCHEMA || undefined,
  columns: {
    id: { type: 'uuid', primary: true },
    name: { type: 'varchar' },
    description: { type: 'varchar', nullable: true },
    createdAt: { name: 'created_at', createDate: true },
    updatedAt: { name: 'updated_at', updateDate: true },
  },
});
class AppController {
  hello() {
    return { status: 'ok' };
  }
}
Get()(AppController.prototype, 'hello', Object.getOwnPropertyDescriptor(AppController.prototype, 'hello'));
Controller()(AppController);
class RecordsController {
  constructor(records) {
    this.records = records;
  }
  async get(id) {
    const found = await this.records.findOneBy({ id });
    if (!found) throw new NotFoundException();
    return found;
  }
}
Param('id')(RecordsController.prototype, 'get', 0);
Get(':id')(RecordsController.prototype, 'get', Object.getOwnPropertyDescriptor(RecordsController.prototype, 'get'));
Inject(getRepositoryToken(Record))(RecordsController, undefined, 0);
Controller(`api/v1/${process.env.BENCH_CONTEXT}`)(RecordsController);
class AppModule {}
Module({
  imports: [
    TypeOrmModule.forRoot({ type: process.env.BENCH_DB_TYPE, url: process.env.DATABASE_URL, entities: [Record] }),
    TypeOrmModule.forFeature([Record]),
  ],
  controllers: [AppController, RecordsController],
})(AppModule);
(async () => {
  let adapter;
  if (adapterName === 'fastify') {
    const { FastifyAdapter } = require('@nestjs/platform-fastify');
    adapter = new FastifyAdapter();
  } else {
    const { ExpressAdapter } = require('@nestjs/platform-express');
    adapter = new ExpressAdapter();
  }
  const app = await NestFactory.create(AppModule, adapter, { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT), '127.0.0.1');
})();
"""

DRIVER = r"""
// Runs autocannon and records every latency, so that p95 is exact.
const autocannon = require('autocannon');
const [url, connections, duration, token, body] = process.argv.slice(2);
const latencies = [];
const statuses = {};
const headers = token ? { authorization: `Bearer ${token}` } : {};
if (body) headers['content-type'] = 'application/json';
const instance = autocannon({
  url, connections: Number(connections), duration: Number(duration), headers,
  ...(body ? { method: 'POST', body } : {}),
});
instance.on('response', (_client, status, _bytes, responseTime) => {
  latencies.push(responseTime);
  statuses[status] = (statuses[status] || 0) + 1;
});
instance.on('done', (result) => {
  latencies.sort((a, b) => a - b);
  const at = (p) =>
    latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null;
  process.stdout.write(JSON.stringify({
    requests: latencies.length, rps: latencies.length / result.duration, errors: result.errors,
    non2xx: result.non2xx, statuses, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: latencies.at(-1),
  }));
});
"""


def wait_live(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            if http("GET", url, timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def resident_mib(pid: int) -> float:
    """The process's resident set (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for process {pid}")


def start_to_ready(command: str, cwd: Path, env: dict[str, str], port: int) -> tuple[float, float]:
    """Starts the app, times spawn to the first 200 of /health/ready, reads its idle RSS 2 s later, stops it."""
    began = time.monotonic()
    process = subprocess.Popen(["sh", "-c", f"exec {command}"], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**env, "PORT": str(port)})
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the app exited with {process.returncode} before it was ready")
            if time.monotonic() - began > 60:
                raise SystemExit("the app was not ready within 60 s")
            try:
                if http("GET", f"http://127.0.0.1:{port}/health/ready", timeout=2).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        ready = time.monotonic() - began
        time.sleep(2)
        return ready, resident_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def drive(node: str, driver: Path, url: str, connections: int, duration: int, token: str = "", body: str = "") -> dict:
    env = {**os.environ, "NODE_PATH": str(NODE_TOOLS)}
    out = subprocess.run([node, str(driver), url, str(connections), str(duration), token, body], env=env,
                         capture_output=True, text=True, timeout=duration + 120, check=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of bare / live / database GET")
    parser.add_argument("--starts", type=int, default=3, help="cold starts timed to readiness before the load")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--answers", type=json.loads, default={}, help="answers over the defaults (JSON)")
    parser.add_argument("--baseline-answers", type=json.loads, metavar="JSON",
                        help="also build a second generated app with these answers over the defaults, and "
                             "alternate its database GET with the others (an A/B of the answers in one run)")
    parser.add_argument("--cpu-prof", type=Path, metavar="DIR",
                        help="run the generated app under `node --cpu-prof` and print where its CPU time goes")
    args = parser.parse_args()

    if not (NODE_TOOLS / "autocannon").exists():
        print("autocannon is missing: run `npm install` in tests/node (scripts/setup-test-env.sh)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    renderer = Renderer(work)
    project = renderer.render("defaults", args.answers)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    node_major = str(answers["node_version"])
    env = {**os.environ, **npm_env(node_major)}
    node = shutil.which("node", path=env["PATH"]) or "node"
    baseline = renderer.render("baseline", args.baseline_answers) if args.baseline_answers is not None else None
    for built in [project] + ([baseline] if baseline else []):
        for command in (["npm", "install"], ["npm", "run", "build"]):
            result = run(command, cwd=built, env=env, timeout=1200)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
                return 1
    (project / "bench-bare.cjs").write_text(BARE_APP, encoding="utf-8")
    driver = work / "driver.cjs"
    driver.write_text(DRIVER, encoding="utf-8")

    servers = Servers(*kinds_for_answers(answers)).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_kind = "postgresql" if answers["database"] == "postgresql" else "mysql"
        # Tracing off, as the targets for start-up and memory ask: no OTLP endpoint reaches the app.
        env = {key: value for key, value in env.items() if not key.startswith("OTEL_")}
        app_env = {
            **env, "NODE_ENV": "production", "LOG_LEVEL": "info", "RATE_LIMIT_PER_MINUTE": "100000000",
            "JWT_SECRET": JWT_SECRET, "JWT_ISSUER": "https://issuer.e2e", "JWT_AUDIENCE": "e2e",
            "DATABASE_URL": servers[database_kind].create_database("bench"),
        }
        if "redis" in servers:
            app_env["REDIS_URL"] = servers["redis"].url
        for kind in ("rabbitmq", "nats"):
            if kind in servers:
                app_env["BROKER_URL"] = servers[kind].url
        if answers["architecture"] == "microservices":
            print("the default answers are expected to be a monolith or modular monolith", file=sys.stderr)
            return 2
        base_env = {**app_env, "DATABASE_URL": servers[database_kind].create_database("bench_base")}
        for built, built_env in [(project, app_env)] + ([(baseline, base_env)] if baseline else []):
            result = run(["npm", "run", "migration:run"], cwd=built, env=built_env)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
                return 1
        app_port, bare_port, base_port = free_port(), free_port(), free_port()
        start = json.loads((project / "package.json").read_text())["scripts"]["start:prod"]
        starts = [start_to_ready(start, project, app_env, free_port()) for _ in range(args.starts)]
        devnull = subprocess.DEVNULL
        profile_env = {}
        if args.cpu_prof:
            args.cpu_prof.mkdir(parents=True, exist_ok=True)
            profile_env["NODE_OPTIONS"] = f"--cpu-prof --cpu-prof-dir={args.cpu_prof.resolve()}"
        processes.append(subprocess.Popen(["sh", "-c", f"exec {start}"], cwd=project, stdout=devnull, stderr=devnull,
                                          env={**app_env, **profile_env, "PORT": str(app_port)}))
        first = model.build(answers).modules[0]
        processes.append(subprocess.Popen([node, "bench-bare.cjs"], cwd=project, stdout=devnull, stderr=devnull,
                                          env={**env, "PORT": str(bare_port), "BENCH_ADAPTER": answers["http_adapter"],
                                               "NODE_ENV": "production", "DATABASE_URL": app_env["DATABASE_URL"],
                                               "BENCH_DB_TYPE": database_kind.replace("postgresql", "postgres"),
                                               "BENCH_TABLE": first["table"], "BENCH_SCHEMA": first["schema"] or "",
                                               "BENCH_CONTEXT": first["slug"]}))
        app, bare = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
        wait_live(f"{app}/health/live", processes[0])
        wait_live(f"{bare}/", processes[1])
        base = f"http://127.0.0.1:{base_port}"
        if baseline:
            processes.append(subprocess.Popen(["sh", "-c", f"exec {start}"], cwd=baseline, stdout=devnull,
                                              stderr=devnull, env={**base_env, "PORT": str(base_port)}))
            wait_live(f"{base}/health/live", processes[2])
        context = answers["bounded_contexts"][0]
        token = jwt("https://issuer.e2e", "e2e")
        created = http("POST", f"{app}/api/v1/{context}", {"name": "benchmark"}, token)
        assert created.status == 201, created.body
        item = f"{app}/api/v1/{context}/{created.json()['id']}"

        bare_item = f"{bare}/api/v1/{context}/{created.json()['id']}"
        assert http("GET", bare_item).status == 200, "the bare Nest baseline does not read the record"
        targets = {"bare GET /": (f"{bare}/", "", ""), "app GET /health/live": (f"{app}/health/live", "", ""),
                   f"bare GET /api/v1/{context}/:id": (bare_item, "", ""),
                   f"app GET /api/v1/{context}/:id": (item, token, "")}
        if baseline:
            base_created = http("POST", f"{base}/api/v1/{context}", {"name": "benchmark"}, token)
            assert base_created.status == 201, base_created.body
            targets[f"baseline GET /api/v1/{context}/:id"] = (
                f"{base}/api/v1/{context}/{base_created.json()['id']}", token, "")
        if "graphql" in answers["api_styles"]:
            field = camel_case(singular(context))
            query = json.dumps({"query": f'{{ {field}(id: "{created.json()["id"]}") {{ id name description }} }}'})
            probe = http("POST", f"{app}/graphql", json.loads(query), token)
            assert probe.status == 200 and "errors" not in probe.json(), probe.body
            targets[f"app POST /graphql {field}(id)"] = (f"{app}/graphql", token, query)
        results: dict[str, list[dict]] = {name: [] for name in targets}
        drive(node, driver, f"{app}/health/live", 10, 3)  # warm-up
        drive(node, driver, f"{bare}/", 10, 3)
        for _ in range(args.rounds):
            for name, (url, auth, body) in targets.items():
                results[name].append(drive(node, driver, url, args.connections, args.duration, auth, body))

        def mean(name: str, key: str) -> float:
            return sum(r[key] for r in results[name]) / len(results[name])

        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), platform.processor())
        print(f"\nMachine: {os.cpu_count()} CPU ({cpu}), {platform.system()} {platform.release()}; "
              f"Node {subprocess.run([node, '--version'], capture_output=True, text=True).stdout.strip()}; "
              f"{answers['http_adapter']}, {answers['database']}; autocannon {args.connections} connections, "
              f"{args.duration} s x {args.rounds} rounds (alternating); load generator on the same machine.\n")
        print(f"{'target':38} {'req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'non-2xx':>8}")
        summary = {}
        for name in targets:
            row = {key: mean(name, key) for key in ("rps", "p50", "p95", "p99", "non2xx")}
            summary[name] = row
            print(f"{name:38} {row['rps']:9.0f} {row['p50']:7.1f} {row['p95']:7.1f} {row['p99']:7.1f} "
                  f"{row['non2xx']:8.0f}")
        bare_row, live_row = summary["bare GET /"], summary["app GET /health/live"]
        db_row = summary[f"app GET /api/v1/{context}/:id"]
        print(f"\nratios generated/bare: /health/live req/s {live_row['rps'] / bare_row['rps']:.2f}, "
              f"p95 {live_row['p95'] / max(bare_row['p95'], 0.001):.2f}; database GET req/s "
              f"{db_row['rps'] / bare_row['rps']:.2f}, p95 {db_row['p95'] / max(bare_row['p95'], 0.001):.2f}")
        if baseline:
            base_row = summary[f"baseline GET /api/v1/{context}/:id"]
            print(f"database GET of these answers against the baseline answers {json.dumps(args.baseline_answers)}: "
                  f"req/s {db_row['rps'] / base_row['rps']:.2f}, p95 {db_row['p95'] / max(base_row['p95'], 0.001):.2f}")
        graphql_rows = [summary[name] for name in targets if name.startswith("app POST /graphql")]
        if graphql_rows:
            gql = graphql_rows[0]
            print(f"GraphQL query by id: p95 {gql['p95']:.1f} ms at {args.connections} connections; against the REST "
                  f"GET of the same record: req/s {gql['rps'] / db_row['rps']:.2f}, p95 "
                  f"{gql['p95'] / max(db_row['p95'], 0.001):.2f}")
        idiom = summary[f"bare GET /api/v1/{context}/:id"]
        rps_ratio, p95_ratio = db_row["rps"] / idiom["rps"], db_row["p95"] / max(idiom["p95"], 0.001)
        live_ratio = live_row["rps"] / bare_row["rps"]
        ready_s = sorted(ready for ready, _ in starts)[len(starts) // 2]
        rss = sorted(mib for _, mib in starts)[len(starts) // 2]
        budget = answers["p95_latency_ms"] / 10

        def verdict(ok: bool) -> str:
            return "met" if ok else "NOT met"

        print(f"\nstart to ready (median of {len(starts)}): {ready_s:.2f} s; idle RSS {rss:.0f} MiB "
              f"(each start: {', '.join(f'{r:.2f} s / {m:.0f} MiB' for r, m in starts)})")
        print(f"target: authenticated database GET req/s >= 0.8 x bare Nest with findOneBy: "
              f"{verdict(rps_ratio >= 0.8)} ({rps_ratio:.2f})")
        print(f"target: its p95 <= 1.25 x bare Nest with findOneBy: {verdict(p95_ratio <= 1.25)} ({p95_ratio:.2f})")
        print(f"target: /health/live req/s >= 0.8 x bare: {verdict(live_ratio >= 0.8)} ({live_ratio:.2f})")
        print(f"target: start to ready <= 1.5 s: {verdict(ready_s <= 1.5)} ({ready_s:.2f} s)")
        print(f"target: idle RSS <= 160 MiB: {verdict(rss <= 160)} ({rss:.0f} MiB)")
        print(f"for reference (issue 17): database GET p95 {db_row['p95']:.1f} ms against p95_latency_ms/10 = "
              f"{budget:.1f} ms: {verdict(db_row['p95'] <= budget)}")
        if args.json:
            args.json.write_text(json.dumps({"summary": summary, "rounds": results, "starts": starts}, indent=2),
                                 encoding="utf-8")
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        servers.cleanup()
        if not os.environ.get("KEEP_BENCH_DIR"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
