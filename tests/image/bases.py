"""The two stand-in base images, committed under the exact names the rendered Dockerfile's FROM lines use, so
that `buildah bud --pull=never` builds it unchanged with nothing pulled.

- build base (the first stage's FROM, e.g. `node:24.21.0-trixie-slim`): the debootstrap minbase rootfs of the
  release its tag names, Node.js of the version its tag names at /usr/local/bin/node, npm 11 under
  /usr/local/lib/node_modules/npm with `npm` and `npx` links, PATH as in the official image. If npm inside it
  cannot reach the registry for a certificate error (a TLS-inspecting network), the host's extra CA bundle
  (NODE_EXTRA_CA_CERTS) is added to this stand-in only, never to the Dockerfile or the final image.
- runtime base (the last stage's FROM, e.g. `gcr.io/distroless/nodejs24-debian13:nonroot`): distroless-like:
  the C/C++ runtime libraries and the loader from that rootfs, /nodejs/bin/node, /etc/passwd and /etc/group with
  `nonroot` (65532), /tmp 1777, Debian's CA bundle, no shell; entrypoint /nodejs/bin/node, user 65532.

Each stand-in carries a label with a hash of its recipe (this package's sources, the reference, the CA bundle);
one with the expected label is reused from the cached store, in this session and the next ones.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

from . import node_dist, rootfs
from .store import CACHE_DIR, Store

RECIPE_LABEL = "io.nest-image-tier.recipe"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RUNTIME_LIBRARIES = ("ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0",
                     "libgcc_s.so.1", "libstdc++.so.6")
LIBRARY_DIR = "usr/lib/x86_64-linux-gnu"
CERTIFICATE_ERRORS = ("SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
                      "CERT_UNTRUSTED", "DEPTH_ZERO_SELF_SIGNED_CERT")
STAND_IN_CA = "/usr/local/share/stand-in-ca/host-ca.crt"
PASSWD = ("root:x:0:0:root:/root:/sbin/nologin\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
          "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"


def canonical(reference: str) -> str:
    """A reference as containers-storage names it: `node:24` -> `docker.io/library/node:24`."""
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return reference
    return f"docker.io/{reference}" if "/" in reference else f"docker.io/library/{reference}"


def recipe(reference: str, *extra: str) -> str:
    digest = hashlib.sha256(reference.encode())
    for module in ("bases.py", "rootfs.py", "node_dist.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]


def host_ca_bundle() -> Path | None:
    configured = os.environ.get("NODE_EXTRA_CA_CERTS")
    return Path(configured) if configured and Path(configured).is_file() else None


def _labelled(store: Store, name: str, key: str) -> bool:
    """Whether `name` is in the store and was made by this recipe."""
    if not store.image_exists(name):
        return False
    labels = (store.inspect_image(name).get("OCIv1", {}).get("config") or {}).get("Labels") or {}
    return labels.get(RECIPE_LABEL) == key


def _copy_tree(source: Path, target: Path) -> None:
    subprocess.run(["cp", "-a", f"{source}/.", str(target)], check=True, timeout=600)


class _Scratch:
    """A working container from scratch, mounted; committed under `name` or removed."""

    def __init__(self, store: Store, container: str) -> None:
        self.store, self.container = store, container
        store.remove_container(container)
        store.run("from", "--name", container, "scratch")
        self.mount = Path(store.run("mount", container).stdout.strip())

    def config(self, *args: str) -> None:
        self.store.run("config", *args, self.container)

    def run(self, *command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.store.run("run", self.container, "--", *command, check=check, timeout=300)

    def commit(self, name: str) -> None:
        """Commit as `name`; an older image of that name (another recipe) is removed, not left dangling."""
        self.store.run("unmount", self.container, check=False)
        older = self.store.inspect_image(name)["FromImageID"] if self.store.image_exists(name) else None
        self.store.run("commit", "--rm", self.container, name, timeout=900)
        if older and older != self.store.inspect_image(name)["FromImageID"]:
            self.store.run("rmi", older, check=False)

    def discard(self) -> None:
        self.store.run("unmount", self.container, check=False)
        self.store.remove_container(self.container)


def build_base(store: Store, reference: str, session: str) -> str:
    """The build stand-in for `reference`, from the cache or made now; returns its storage name."""
    name = canonical(reference)
    ca = host_ca_bundle()
    key = recipe(reference, ca.read_text(errors="replace") if ca else "")
    with FileLock(str(CACHE_DIR / "bases.lock")):
        if _labelled(store, name, key):
            return name
        tree = rootfs.rootfs(rootfs.release_of(reference))
        dist = node_dist.install(node_dist.node_version_of(reference))
        work = _Scratch(store, f"{session}-build-base")
        try:
            _copy_tree(tree, work.mount)
            local = work.mount / "usr" / "local"
            (local / "bin").mkdir(parents=True, exist_ok=True)
            (local / "lib" / "node_modules").mkdir(parents=True, exist_ok=True)
            shutil.copy2(dist.node, local / "bin" / "node")
            _copy_tree_into(dist.npm_package, local / "lib" / "node_modules" / "npm")
            for command, script in (("npm", "npm-cli.js"), ("npx", "npx-cli.js")):
                (local / "bin" / command).symlink_to(f"../lib/node_modules/npm/bin/{script}")
            work.config("--env", f"PATH={PATH}", "--env", f"NODE_VERSION={dist.version.lstrip('v')}",
                        "--cmd", '["node"]', "--label", f"{RECIPE_LABEL}={key}")
            probe = work.run("npm", "ping", "--loglevel=error")
            if probe.returncode != 0:
                output = probe.stdout + probe.stderr
                if not (ca and any(code in output for code in CERTIFICATE_ERRORS)):
                    raise AssertionError(f"npm in the build stand-in cannot reach the registry:\n{output[-3000:]}")
                target = work.mount / STAND_IN_CA.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ca, target)
                work.config("--env", f"NODE_EXTRA_CA_CERTS={STAND_IN_CA}")
                again = work.run("npm", "ping", "--loglevel=error")
                assert again.returncode == 0, f"npm ping with the host CA bundle:\n{again.stdout}{again.stderr}"
            work.commit(name)
        except BaseException:
            work.discard()
            raise
    return name


def _copy_tree_into(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(source, target)


def runtime_base(store: Store, reference: str, session: str) -> str:
    """The distroless-like runtime stand-in for `reference`, from the cache or made now."""
    name = canonical(reference)
    key = recipe(reference)
    with FileLock(str(CACHE_DIR / "bases.lock")):
        if _labelled(store, name, key):
            return name
        tree = rootfs.rootfs(rootfs.release_of(reference))
        dist = node_dist.install(node_dist.node_version_of(reference))
        work = _Scratch(store, f"{session}-runtime-base")
        try:
            root = work.mount
            for link in ("bin", "lib", "lib64", "sbin"):  # merged /usr, as in the rootfs
                if (tree / link).is_symlink():
                    (root / link).symlink_to(os.readlink(tree / link))
            libraries = root / LIBRARY_DIR
            libraries.mkdir(parents=True)
            for library in RUNTIME_LIBRARIES:
                source = tree / LIBRARY_DIR / library
                assert source.exists(), f"{source} is not in the {tree.name} rootfs"
                shutil.copy2(source, libraries / library, follow_symlinks=False)
                if source.is_symlink():
                    shutil.copy2(source.resolve(), libraries / source.resolve().name)
            lib64 = tree / "usr" / "lib64"
            if lib64.is_dir():
                (root / "usr" / "lib64").mkdir(parents=True)
                for entry in lib64.iterdir():
                    shutil.copy2(entry, root / "usr" / "lib64" / entry.name, follow_symlinks=False)
            (root / "nodejs" / "bin").mkdir(parents=True)
            shutil.copy2(dist.node, root / "nodejs" / "bin" / "node")
            etc = root / "etc"
            (etc / "ssl" / "certs").mkdir(parents=True)
            shutil.copy2(tree / "etc" / "ssl" / "certs" / "ca-certificates.crt", etc / "ssl" / "certs")
            for copied in ("os-release", "nsswitch.conf"):
                if (tree / "etc" / copied).exists():
                    shutil.copy2(tree / "etc" / copied, etc / copied, follow_symlinks=True)
            (etc / "passwd").write_text(PASSWD, encoding="utf-8")
            (etc / "group").write_text(GROUP, encoding="utf-8")
            (root / "tmp").mkdir()
            (root / "tmp").chmod(0o1777)
            home = root / "home" / "nonroot"
            home.mkdir(parents=True)
            os.chown(home, 65532, 65532)
            home.chmod(0o700)
            (root / "root").mkdir(mode=0o700)
            shells = [path for path in ("bin/sh", "usr/bin/sh", "bin/bash") if (root / path).exists()]
            assert not shells, f"the runtime stand-in has a shell: {shells}"
            work.config("--entrypoint", '["/nodejs/bin/node"]', "--cmd", "", "--user", "65532:65532",
                        "--workingdir", "/home/nonroot", "--env", f"PATH={PATH}",
                        "--env", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                        "--label", f"{RECIPE_LABEL}={key}")
            probe = work.run("/nodejs/bin/node", "-e", "process.stdout.write(process.version)")
            assert probe.returncode == 0 and probe.stdout == dist.version, (
                f"node in the runtime stand-in: {probe.returncode} {probe.stdout!r} {probe.stderr[-2000:]}")
            work.commit(name)
        except BaseException:
            work.discard()
            raise
    return name
