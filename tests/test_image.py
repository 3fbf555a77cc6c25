"""The generated image, built and run (issue 15, item 2): on a machine without a Docker daemon or a registry,
buildah builds the rendered Dockerfile unchanged and the image runs against the real servers of tests/servers.

For each render (the default answers with the app; a microservices render with PostgreSQL, NATS and GitHub CI):
`npm install --package-lock-only` (what the team does before its first push), then
`buildah bud --isolation chroot --pull=never --format docker --layers=false` on stand-in base images committed
under the Dockerfile's own FROM names (tests/image/bases.py), with the build argument exactly as the rendered CI
workflow passes it. The image then runs in a buildah container: the migration command of the rendered Kubernetes
Job, then the image's ENTRYPOINT + CMD as uid 65532, the Dockerfile's own HEALTHCHECK command (exit 0) and
GET /health/ready (200). Figures (build time, image size, start to ready, idle and loaded RSS of the node process)
are printed, written to $NEST_IMAGE_FIGURES if set, and the RSS is held to extensions/data/sizing.yml (+10 %).

In one process the images of all selected renders are built at the same time, then run one after the other;
under pytest-xdist each worker builds only the renders of its own tests. Opt out only with NEST_SKIP_IMAGE_TIER=1;
a missing buildah or debootstrap skips here and fails under CI=true. NEST_KEEP_IMAGES=1 keeps the built images (in
the tier's store, $NEST_IMAGE_CACHE or ~/.cache/nest-image-tier, until the next session). Needs root (debootstrap,
buildah's vfs store) and network access to Debian's mirror and the npm registry.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from helpers import IN_CI, Renderer, load_yaml, run, tool
from image import bases, ci, container, dockerfile, figures, manifests
from image.store import CACHE_DIR, SESSION_PREFIX, Store
from node_runtime import install_with_fresh_metadata, npm_env
from servers import HOST, Servers, kinds_for_answers, port_open, start_or_skip
from test_app_e2e import JWT_SECRET, http, jwt

pytestmark = pytest.mark.slow

SESSION = f"{SESSION_PREFIX}-{os.getpid()}"
KEEP_IMAGES = os.environ.get("NEST_KEEP_IMAGES", "") not in ("", "0")
LOAD_REQUESTS = 2000
LOAD_THREADS = 4
SETTLE_SECONDS = 3.0
# The open-files limit of the build's RUN steps. Docker Engine (25 and later) gives soft 1024 and hard 524288, and
# Node.js raises its soft limit to the hard one; buildah's chroot isolation gives 1024:1024, on which `npm ci` with a
# warm `--mount=type=cache` fails with EMFILE (a limit of this builder, not of the Dockerfile). So: soft 1024 and the
# hard limit up to Docker's that this process may hand on (its own; raising it needs a privilege it may not have).
DOCKER_NOFILE_HARD = 524288
_HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
_HARD = DOCKER_NOFILE_HARD if _HARD == resource.RLIM_INFINITY else min(_HARD, DOCKER_NOFILE_HARD)
BUILD_ULIMIT = f"nofile=1024:{_HARD}"


@dataclass(frozen=True)
class ImageRender:
    id: str
    answers: dict[str, Any]


RENDERS = [
    ImageRender("image-defaults", {"include_app": True}),
    ImageRender("image-microservices-pg-nats", {
        "include_app": True, "architecture": "microservices", "database": "postgresql", "message_broker": "nats",
        "bounded_contexts": ["orders", "billing"], "ci": "github", "api_styles": ["rest", "grpc"],
    }),
]


def app_environment(answers: dict[str, Any], servers: Servers, database_url: str) -> dict[str, str]:
    """The environment tests/test_app_e2e.py starts the production app with."""
    env = {
        "NODE_ENV": "production", "LOG_LEVEL": "info", "RATE_LIMIT_PER_MINUTE": "100000",
        "CORS_ORIGINS": "http://localhost:5173", "JWT_SECRET": JWT_SECRET,
        "JWT_ISSUER": "https://issuer.e2e", "JWT_AUDIENCE": "e2e", "OTEL_SERVICE_NAME": "e2e",
        "DATABASE_URL": database_url,
    }
    if "redis" in servers:
        env["REDIS_URL"] = servers["redis"].url
    broker = answers.get("message_broker", "none")
    if broker in ("rabbitmq", "nats", "kafka"):
        env["BROKER_URL"] = servers[broker].url
    return env


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def image_store() -> Store:
    if os.environ.get("NEST_SKIP_IMAGE_TIER") == "1":
        pytest.skip("NEST_SKIP_IMAGE_TIER=1: the image tier is opted out")
    buildah = tool("buildah")  # missing: skipped here, a failure under CI=true
    tool("debootstrap")
    if os.geteuid() != 0:
        message = "the image tier runs as root (debootstrap, a buildah vfs store with chroot isolation)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    store = Store(CACHE_DIR / "store", buildah)
    store.remove_dead_sessions(keep_images=KEEP_IMAGES)
    return store


def stand_ins(store: Store, project: Path) -> dict[str, str]:
    """The stand-in base images for the Dockerfile's FROM lines: the last stage's is the runtime base, every
    other external one a build base. Returns FROM reference -> stored name."""
    found = dockerfile.stages(project / "Dockerfile")
    stage_names = {stage.name for stage in found if stage.name}
    external = [stage.image for stage in found if stage.image not in stage_names]
    runtime = found[-1].image
    assert runtime in external, f"the last stage builds FROM another stage ({runtime}); no runtime base to stand in"
    names = {}
    for reference in dict.fromkeys(external):
        maker = bases.runtime_base if reference == runtime else bases.build_base
        names[reference] = maker(store, reference, SESSION)
    return names


# ------------------------------------------------------------------------------------------------ steps


def lockfile(project: Path, node_major: str) -> float:
    began = time.monotonic()
    env = npm_env(node_major)
    result = install_with_fresh_metadata(
        lambda extra: run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], cwd=project,
                          env={**env, **extra}))
    assert result.returncode == 0, (
        f"npm install --package-lock-only failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    assert (project / "package-lock.json").is_file()
    return time.monotonic() - began


def the_ci_build(project: Path) -> ci.CiBuild:
    """The first image build of the rendered CI (ci.yml's first matrix entry): its build arguments as written."""
    builds = ci.github_builds(project)
    assert builds, "the rendered GitHub workflows build no image (docker/build-push-action)"
    return builds[0]


def the_migration(project: Path, build: ci.CiBuild) -> manifests.MigrationJob:
    """The migration Job of the built image: the only one, or (one image per service) the one whose image is
    named in the CI build's matrix entry."""
    jobs = manifests.migration_jobs(project)
    assert jobs, "the dev overlay has no migration Job"
    if len(jobs) > 1:
        jobs = [job for job in jobs if job.image in build.matrix_values()]
    assert len(jobs) == 1, f"cannot tell the migration Job of {build.where}: {jobs}"
    return jobs[0]


def wait_for(probe: Any, timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll `probe` until it returns true; returns the seconds waited."""
    began = time.monotonic()
    last: Any = None
    while time.monotonic() - began < timeout:
        try:
            last = probe()
            if last is True:
                return time.monotonic() - began
        except OSError as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


def load(port: int, path: str, token: str, requests: int, threads: int) -> dict[int, int]:
    """`requests` authenticated GETs over keep-alive connections; status code -> count."""
    def worker(count: int) -> dict[int, int]:
        statuses: dict[int, int] = {}
        connection = HTTPConnection(HOST, port, timeout=30)
        try:
            for _ in range(count):
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
        finally:
            connection.close()
        return statuses
    shares = [requests // threads + (1 if index < requests % threads else 0) for index in range(threads)]
    total: dict[int, int] = {}
    with ThreadPoolExecutor(threads) as pool:
        for statuses in pool.map(worker, shares):
            for status, count in statuses.items():
                total[status] = total.get(status, 0) + count
    return total


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


# ------------------------------------------------------------------------------------------------ the builds


@dataclass
class Built:
    """One render's image build (made by the `built_images` fixture); `error` is what failed, if anything."""

    render: ImageRender
    project: Path
    answers: dict[str, Any]
    image: str
    figures: dict[str, Any]
    ci_build: ci.CiBuild | None = None
    error: BaseException | None = None


def build_image(store: Store, built: Built) -> None:
    """Lockfile, then `buildah bud` with the CI's build arguments; the figures go into `built.figures`."""
    project = built.project
    built.figures["lockfile_s"] = round(lockfile(project, str(built.answers["node_version"])), 1)
    build = built.ci_build = the_ci_build(project)
    required = [name for name, default in dockerfile.build_args(project / "Dockerfile").items() if default is None]
    passed = [name for name, _ in build.args]
    assert sorted(required) == sorted(passed), f"{build.where} passes {passed}; the Dockerfile requires {required}"
    built.figures["build_args"] = dict(build.args)
    began = time.monotonic()
    result = store.run("bud", "--isolation", "chroot", "--pull=never", "--format", "docker", "--layers=false",
                       "--ulimit", BUILD_ULIMIT, *build.buildah_options(), "-t", built.image, ".", cwd=project,
                       timeout=1200, check=False)
    built.figures["build_s"] = round(time.monotonic() - began, 1)
    assert result.returncode == 0, (
        f"buildah bud failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")


class Builds:
    """The images of the session, built when a test first asks for one. In a single process every selected
    render is built then, all at the same time (each build waits on the network and the disk a good part of the
    time); under pytest-xdist a worker builds only the renders it is asked for, so that no image is built twice.
    The images run one after the other (the tests), so that their figures are measured on a quieter machine."""

    def __init__(self, store: Store, renderer: Renderer, selected: list[ImageRender], together: bool) -> None:
        self.store, self.renderer, self.selected, self.together = store, renderer, selected, together
        self.built: dict[str, Built] = {}

    def get(self, render: ImageRender) -> Built:
        if render.id not in self.built:
            wanted = [r for r in (self.selected if self.together else [render]) if r.id not in self.built]
            self._build(wanted if render in wanted else [*wanted, render])
        return self.built[render.id]

    def _build(self, renders: list[ImageRender]) -> None:
        builds = []
        for render in renders:
            project = self.renderer.render(render.id, render.answers)
            builds.append(Built(render, project, load_yaml(project / ".copier-answers.yml"),
                                f"localhost/{SESSION_PREFIX}/{render.id}:{os.getpid()}", {}))
            self.built[render.id] = builds[-1]
        began = time.monotonic()
        for built in builds:
            try:
                stand_ins(self.store, built.project)
            except BaseException as error:
                built.error = error
        stand_ins_s = round(time.monotonic() - began, 1)
        began = time.monotonic()

        def attempt(built: Built) -> None:
            built.figures["stand_ins_s"] = stand_ins_s
            if built.error is None:
                try:
                    build_image(self.store, built)
                except BaseException as error:
                    built.error = error
        with ThreadPoolExecutor(len(builds)) as pool:
            list(pool.map(attempt, builds))
        for built in builds:
            built.figures["builds_wall_s"] = round(time.monotonic() - began, 1)
            built.figures["builds_together"] = len(builds)

    def remove_images(self) -> None:
        for built in self.built.values():
            self.store.remove_image(built.image)


@pytest.fixture(scope="session")
def built_images(request: pytest.FixtureRequest, renderer: Renderer, image_store: Store,
                 worker_id: str) -> Iterator[Builds]:
    selected = [render for render in RENDERS if any(
        getattr(item, "callspec", None) is not None and item.callspec.params.get("render") == render
        for item in request.session.items)]
    builds = Builds(image_store, renderer, selected, together=worker_id == "master")
    try:
        yield builds
    finally:
        if not KEEP_IMAGES:
            builds.remove_images()


# ------------------------------------------------------------------------------------------------ the test


@pytest.mark.parametrize("render", RENDERS, ids=[r.id for r in RENDERS])
def test_image_builds_and_runs(render: ImageRender, built_images: Builds, image_store: Store,
                               tmp_path: Path) -> None:
    built = built_images.get(render)
    result = built.figures
    try:
        if built.error is not None:
            raise built.error
        assert built.ci_build is not None
        began = time.monotonic()
        run_image(render, built.answers, built.project, image_store, built.image, built.ci_build, result, tmp_path)
        result["run_s"] = round(time.monotonic() - began, 1)
    finally:
        figures.record(render.id, result)

    recorded = figures.recorded_rss_mib()
    assert result["idle_rss_mib"] <= recorded["idle"] * figures.TOLERANCE, (
        f"idle RSS {result['idle_rss_mib']} MiB is over the recorded {recorded['idle']} MiB + 10 %")
    assert result["loaded_rss_mib"] <= recorded["loaded"] * figures.TOLERANCE, (
        f"loaded RSS {result['loaded_rss_mib']} MiB is over the recorded {recorded['loaded']} MiB + 10 %")


def run_image(render: ImageRender, answers: dict[str, Any], project: Path, store: Store, image: str,
              build: ci.CiBuild, result: dict[str, Any], tmp_path: Path) -> None:
    docker_file = project / "Dockerfile"
    config = store.inspect_image(image)
    docker_config = (config.get("Docker") or {}).get("config") or {}
    healthcheck = dockerfile.healthcheck_command(docker_file)
    result["image_bytes"] = store.image_size(image)
    result["image_mb"] = round(result["image_bytes"] / 1e6)
    assert (docker_config.get("Healthcheck") or {}).get("Test") == ["CMD", *healthcheck], docker_config
    assert docker_config.get("User") == "65532:65532", docker_config.get("User")
    command = [*(docker_config.get("Entrypoint") or []), *(docker_config.get("Cmd") or [])]
    assert command and command[0] == "/nodejs/bin/node", command
    port = int(dockerfile.exposed_ports(docker_file)[0])

    migration = the_migration(project, build)
    contexts: list[str] = answers["bounded_contexts"]
    context = build.args[0][1] if build.args and build.args[0][1] in contexts else contexts[0]
    # The container is a copy of the image (vfs): make it while the servers start.
    began = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        making = pool.submit(container.Container, store, image, f"{SESSION}-{render.id}")
        try:
            servers = start_or_skip(Servers(*kinds_for_answers(answers)))
        except BaseException:
            if making.exception() is None:
                making.result().remove()
            raise
        try:
            box = making.result()
        except BaseException:
            servers.cleanup()
            raise
    result["container_and_servers_s"] = round(time.monotonic() - began, 1)
    try:
        database = servers["postgresql" if answers["database"] == "postgresql" else "mysql"]
        db_url = database.create_database(f"image_{render.id.replace('-', '_')}")
        env = app_environment(answers, servers, db_url)

        began = time.monotonic()
        migrated = box.run(["/nodejs/bin/node", *migration.args], env, timeout=180)
        result["migration_s"] = round(time.monotonic() - began, 1)
        assert migrated.returncode == 0, f"{migration.name} failed:\n{migrated.stdout[-4000:]}{migrated.stderr[-4000:]}"
        db_name = db_url.rsplit("/", 1)[1]
        applied = database.query("SELECT count(*) FROM migrations", db_name)
        assert int(applied[0][0]) > 0, f"{migration.name} applied no migration"

        with FileLock(str(Path("/tmp") / f"nest-image-tier-port-{port}.lock")):
            wait_for(lambda: not port_open(port), 60, f"port {port} (the image's EXPOSE and HEALTHCHECK) free")
            began = time.monotonic()
            pid = box.start(command, env, tmp_path / "app.log")
            try:
                def ready() -> bool:
                    if box.app is not None and box.app.poll() is not None:
                        raise AssertionError(f"the app exited with {box.app.returncode}:\n{box.log_tail()}")
                    return http("GET", f"http://{HOST}:{port}/health/ready", timeout=2).status == 200
                wait_for(ready, 90, "GET /health/ready 200")
                result["start_to_ready_s"] = round(time.monotonic() - began, 2)
                ids = container.status(pid)
                assert ids["Uid"].split() == ["65532"] * 4, ids["Uid"]
                assert ids["Gid"].split() == ["65532"] * 4, ids["Gid"]

                checked = box.run(healthcheck, timeout=60)
                assert checked.returncode == 0, (
                    f"HEALTHCHECK exited {checked.returncode}:\n{checked.stdout}{checked.stderr}")
                ready_now = http("GET", f"http://{HOST}:{port}/health/ready")
                assert ready_now.status == 200, ready_now.body
                exposed = dockerfile.exposed_ports(docker_file)
                if len(exposed) > 1:
                    # the gRPC server of the hybrid app, on the second EXPOSEd port, with its contracts in the image
                    assert port_open(int(exposed[1])), f"nothing listens on the gRPC port {exposed[1]}"

                time.sleep(SETTLE_SECONDS)
                result["idle_rss_mib"] = mib(container.rss_kib(pid))
                token = jwt("https://issuer.e2e", "e2e")
                api = f"/api/v1/{context}"
                created = http("POST", f"http://{HOST}:{port}{api}", {"name": "image tier"}, token)
                assert created.status == 201, created.body
                began = time.monotonic()
                statuses = load(port, f"{api}?page=1&limit=50", token, LOAD_REQUESTS, LOAD_THREADS)
                result["load_s"] = round(time.monotonic() - began, 1)
                assert statuses == {200: LOAD_REQUESTS}, statuses
                result["loaded_rss_mib"] = mib(container.rss_kib(pid))
                result["peak_rss_mib"] = mib(container.rss_kib(pid, "VmHWM"))
            finally:
                box.stop()
        assert box.ended_cleanly(), f"SIGTERM did not end the app cleanly:\n{box.log_tail()}"
    finally:
        try:
            box.remove()
        finally:
            servers.cleanup()
