"""A real Synapse homeserver for the test suite, on 127.0.0.1 only.

Usage from a (session-scoped) pytest fixture::

    from tests.fakes.synapse_server import synapse_session

    @pytest.fixture(scope="session")
    def synapse(tmp_path_factory):
        with synapse_session(tmp_path_factory.mktemp("synapse")) as server:
            yield server

or ``server = start_synapse(workdir)`` ... ``server.stop()``.

The server has a single plain-HTTP listener on a free loopback port that
serves the client API (``/_matrix/client``, ``/_synapse/admin``, media and
``/health``) and no federation at all.  Registration is closed; users are
created through the shared-secret admin API (:meth:`SynapseServer.register_user`).
Every rate limit is raised very high, except ``rc_message`` when a test asks
for a low one through the ``rc_message=(per_second, burst_count)`` argument.

Everything here is synchronous (urllib), so it can be used from sync
session fixtures; :meth:`SynapseServer.aregister_user` is the async variant
(runs the sync call in a worker thread so the event loop is not blocked).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "SynapseError",
    "SynapseServer",
    "start_synapse",
    "synapse_session",
    "HIGH_RATE_LIMIT",
]

#: Rate (per second) and burst used for every limit we raise "very high".
HIGH_RATE_LIMIT: dict[str, float] = {"per_second": 100000, "burst_count": 100000}

_STARTUP_TIMEOUT = 90.0
_STOP_TIMEOUT = 15.0

# Servers started by this process and not stopped yet; killed at interpreter
# exit so an aborted test run (Ctrl-C, crash in a fixture) leaves no Synapse.
_RUNNING: "set[SynapseServer]" = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop(timeout=5)


class SynapseError(RuntimeError):
    """Synapse failed to start, died, or an HTTP call to it failed."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<{path.name} not readable>"
    return "\n".join(text.splitlines()[-lines:])


def _yaml_dump(data: Any) -> str:
    # JSON is valid YAML (1.2, and what PyYAML reads), so no yaml dependency
    # is needed; keeps the file readable enough for debugging.
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _ratelimits(rc_message: tuple[float, int] | None) -> dict[str, Any]:
    high = dict(HIGH_RATE_LIMIT)
    limits: dict[str, Any] = {
        "rc_message": high,
        "rc_registration": high,
        "rc_registration_token_validity": high,
        "rc_login": {"address": high, "account": high, "failed_attempts": high},
        "rc_admin_redaction": high,
        "rc_joins": {"local": high, "remote": high},
        "rc_joins_per_room": high,
        "rc_key_requests": high,
        "rc_3pid_validation": high,
        "rc_invites": {"per_room": high, "per_user": high, "per_issuer": high},
        "rc_third_party_invite": high,
        "rc_media_create": high,
        "rc_presence": {"per_user": high},
        "rc_delayed_event_mgmt": high,
        "rc_room_creation": high,
        "rc_reports": high,
        "rc_user_directory": high,
        "rc_profile": high,
        # Federation is off, but keep it from ever throttling anything.
        "rc_federation": {
            "window_size": 1000,
            "sleep_limit": 100000,
            "sleep_delay": 1,
            "reject_limit": 100000,
            "concurrent": 1000,
        },
    }
    if rc_message is not None:
        per_second, burst = rc_message
        limits["rc_message"] = {"per_second": per_second, "burst_count": burst}
    return limits


class SynapseServer:
    """One Synapse process with its config, database and logs in ``workdir``.

    Attributes after :meth:`start`: ``base_url`` (``http://127.0.0.1:PORT``),
    ``port``, ``pid``, ``server_name``, ``config_path``, ``log_path``,
    ``startup_seconds`` (time from spawning to a healthy ``/health``).
    """

    def __init__(
        self,
        workdir: Path | str,
        server_name: str = "localhost",
        *,
        rc_message: tuple[float, int] | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.server_name = server_name
        self.rc_message = rc_message
        self.extra_config = dict(extra_config or {})
        self.registration_shared_secret = secrets.token_hex(32)
        self.port: int | None = None
        self.base_url: str = ""
        self.pid: int | None = None
        self.startup_seconds: float | None = None
        self.config_path = self.workdir / "homeserver.yaml"
        self.log_path = self.workdir / "homeserver.log"
        self.stdout_path = self.workdir / "synapse.stdout.log"
        self.signing_key_path = self.workdir / f"{server_name}.signing.key"
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ config
    def _write_signing_key(self) -> None:
        if self.signing_key_path.exists():
            return
        # signedjson is a Synapse dependency; writing the key ourselves avoids
        # a second Synapse start (``--generate-keys``) just for this.
        from signedjson.key import generate_signing_key, write_signing_keys

        key = generate_signing_key("a_" + secrets.token_hex(2))
        with open(self.signing_key_path, "w") as fh:
            write_signing_keys(fh, [key])

    def _write_log_config(self) -> Path:
        log_config = self.workdir / "log_config.yaml"
        config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                    " - %(request)s - %(message)s"
                }
            },
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "filters": ["context"],
                    "encoding": "utf8",
                }
            },
            "loggers": {
                "synapse": {"level": "WARNING"},
                "twisted": {"level": "WARNING"},
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        log_config.write_text(_yaml_dump(config))
        return log_config

    def build_config(self) -> dict[str, Any]:
        """The homeserver.yaml content (as a dict)."""
        assert self.port is not None
        media = self.workdir / "media_store"
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"http://127.0.0.1:{self.port}/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "report_stats": False,
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # "client" also mounts /_synapse/admin and the client media
                    # endpoints; no "federation"/"keys" resources.
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "log_config": str(self._write_log_config()),
            "media_store_path": str(media),
            "max_upload_size": "10M",
            "signing_key_path": str(self.signing_key_path),
            "registration_shared_secret": self.registration_shared_secret,
            "macaroon_secret_key": secrets.token_hex(32),
            "form_secret": secrets.token_hex(32),
            "enable_registration": False,
            "bcrypt_rounds": 4,
            "suppress_key_server_warning": True,
            "trusted_key_servers": [],
            "federation_domain_whitelist": [],
            "allow_public_rooms_over_federation": False,
            "presence": {"enabled": False},
            "enable_metrics": False,
            "url_preview_enabled": False,
            "serve_server_wellknown": False,
            "require_auth_for_profile_requests": False,
        }
        config.update(_ratelimits(self.rc_message))
        config.update(self.extra_config)
        return config

    # --------------------------------------------------------------- lifecycle
    def start(self, timeout: float = _STARTUP_TIMEOUT) -> "SynapseServer":
        """Write config + key, spawn Synapse, wait for ``/health``."""
        if self._proc is not None:
            raise SynapseError("already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "media_store").mkdir(exist_ok=True)
        if self.port is None:              # a restart keeps the port: clients keep their URL
            self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._write_signing_key()
        self.config_path.write_text(_yaml_dump(self.build_config()))

        env = dict(os.environ)
        env.pop("SYNAPSE_CACHE_FACTOR", None)
        env["PYTHONUNBUFFERED"] = "1"
        t0 = time.monotonic()
        with open(self.stdout_path, "ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                cwd=str(self.workdir),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # Own process group: a Ctrl-C in pytest doesn't hit it first,
                # and we still stop it by pid.
                start_new_session=True,
            )
        self.pid = self._proc.pid
        _RUNNING.add(self)
        try:
            self._wait_healthy(t0 + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_healthy(self, deadline: float) -> None:
        assert self._proc is not None
        url = self.base_url + "/health"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise SynapseError(
                    f"Synapse exited with code {code} during start-up.\n"
                    f"--- {self.stdout_path.name} ---\n{_tail(self.stdout_path)}\n"
                    f"--- {self.log_path.name} ---\n{_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SynapseError(
                    f"Synapse did not answer {url} in time.\n"
                    f"--- {self.stdout_path.name} ---\n{_tail(self.stdout_path)}\n"
                    f"--- {self.log_path.name} ---\n{_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """SIGTERM the process by pid, SIGKILL after ``timeout``, then reap it."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> "SynapseServer":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------- http
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        access_token: str | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """JSON request against the server; raises SynapseError on non-2xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if access_token:
            req.add_header("Authorization", f"Bearer {access_token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            raise SynapseError(
                f"{method} {path} -> {exc.code}: {parsed}", status=exc.code, body=parsed
            ) from None
        return json.loads(raw) if raw else {}

    def health(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=5) as resp:
                return resp.status == 200 and resp.read().strip() == b"OK"
        except OSError:
            return False

    def user_id(self, localpart: str) -> str:
        return f"@{localpart.lower()}:{self.server_name}"

    # ------------------------------------------------------------------- admin
    def register_user(
        self,
        localpart: str,
        password: str,
        admin: bool = False,
        displayname: str | None = None,
        *,
        inhibit_login: bool = False,
    ) -> tuple[str, str | None, str | None]:
        """Create a user with the shared-secret admin API.

        Returns ``(user_id, access_token, device_id)``; with
        ``inhibit_login=True`` no device/token is created and the last two are
        ``None`` (used by MatrixUser, which logs in itself to get an E2E device).
        """
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(nonce.encode())
        mac.update(b"\x00")
        mac.update(localpart.encode())
        mac.update(b"\x00")
        mac.update(password.encode())
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        if inhibit_login:
            body["inhibit_login"] = True
        resp = self.request("POST", "/_synapse/admin/v1/register", body)
        return resp["user_id"], resp.get("access_token"), resp.get("device_id")

    async def aregister_user(self, *args: Any, **kwargs: Any) -> tuple[str, str | None, str | None]:
        """Async :meth:`register_user` (runs in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.register_user, *args, **kwargs)

    def override_ratelimit(
        self,
        user_id: str,
        admin_token: str,
        messages_per_second: int = 0,
        burst_count: int = 0,
    ) -> dict[str, Any]:
        """Per-user rate-limit override (admin API ``override_ratelimit``).

        With ``messages_per_second=0`` (the default) Synapse exempts the user
        from message-sending rate limiting entirely, and also from every other
        per-requester limiter it checks through the same override table
        (joins, invites, room creation, ...), whatever ``rc_message`` says.
        A non-zero value instead sets a per-user ``rc_message`` rate/burst.
        ``admin_token`` must belong to a server admin (``register_user(...,
        admin=True)``). Returns Synapse's answer (the stored override).
        """
        path = "/_synapse/admin/v1/users/%s/override_ratelimit" % urllib.parse.quote(
            user_id, safe=""
        )
        return self.request(
            "POST",
            path,
            {"messages_per_second": messages_per_second, "burst_count": burst_count},
            access_token=admin_token,
        )


def start_synapse(
    workdir: Path | str,
    server_name: str = "localhost",
    **kwargs: Any,
) -> SynapseServer:
    """Start a Synapse in ``workdir`` and return it once ``/health`` answers.

    The caller must call ``server.stop()`` (or use :func:`synapse_session`).
    Synchronous on purpose: usable from a plain session-scoped fixture and,
    via ``asyncio.to_thread``, from async code.
    """
    return SynapseServer(workdir, server_name, **kwargs).start()


@contextlib.contextmanager
def synapse_session(
    workdir: Path | str,
    server_name: str = "localhost",
    **kwargs: Any,
) -> Iterator[SynapseServer]:
    """Context manager: a running Synapse for the duration of the block.

    Intended for a session-scoped fixture::

        @pytest.fixture(scope="session")
        def synapse(tmp_path_factory):
            with synapse_session(tmp_path_factory.mktemp("synapse")) as srv:
                yield srv
    """
    server = start_synapse(workdir, server_name, **kwargs)
    try:
        yield server
    finally:
        server.stop()
