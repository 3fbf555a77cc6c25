"""The harness's two errors."""

from __future__ import annotations


class ServerError(RuntimeError):
    """A server did not start, did not get ready in time, did not stop, or refused a request."""


class ServerUnavailable(ServerError):
    """The server's programs are not installed here (run scripts/setup-test-env.sh)."""
