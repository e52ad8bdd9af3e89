"""Helpers of the study tests: a study on the bundled samples, a real server on loopback
(uvicorn in a thread, or ``likeness study serve`` in a process) and plain HTTP calls."""

from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def make_study(folder: Path, **settings: Any) -> Any:
    from likeness.study import create_study

    return create_study(folder, {"jpeg": SAMPLES / "jpeg", "stylized": SAMPLES / "stylized"},
                        reference=SAMPLES / "reference", **settings)


@contextmanager
def server_thread(study: Any, store: Any, **settings: Any) -> Iterator[int]:
    """The study's app served by uvicorn on 127.0.0.1 in this process; yields its port."""
    import uvicorn

    from likeness.study.server import make_app

    config = uvicorn.Config(make_app(study, store, **settings), host="127.0.0.1", port=0,
                            log_level="error", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the study server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve_process(folder: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    """``likeness study serve`` in its own process, once it answers."""
    log = folder.parent / f"serve-{port}.log"
    with log.open("w") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "likeness", "study", "serve", str(folder), "--port",
             str(port), *extra], stdout=output, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"likeness study serve ended: {log.read_text()}")
        try:
            if call(port, "GET", "/api/next?token=" + "x" * 32)[0] == 404:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("likeness study serve did not answer within 60 s")


def call(port: int, method: str, path: str, body: Any = None, *,
         raw: bytes | None = None, headers: dict[str, str] | None = None,
         connection: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
    """(status, JSON body or text) of one request."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = dict(headers or {})
    if data is not None and "Content-Type" not in sent:
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
    finally:
        if own:
            connection.close()
    kind = response.getheader("Content-Type") or ""
    return response.status, json.loads(payload) if "json" in kind else payload.decode()


def prefer(study: Any, model: str) -> Any:
    """A participant's choice: ``model``'s output, and on an attention check the output
    rather than its degraded copy."""
    degraded = {d["image"] for d in study.manifest["degraded"]}
    preferred = {item["outputs"][model] for item in study.manifest["items"]}

    def choose(view: dict[str, Any]) -> str:
        left, right = view["options"][0], view["options"][-1]
        if left in degraded or right in degraded:
            return "right" if left in degraded else "left"
        return "left" if left in preferred else "right"
    return choose


def complete(port: int, choose: Any = None,
             connection: http.client.HTTPConnection | None = None) -> tuple[str, list[str]]:
    """A participant who answers every trial (``choose(view)`` → side; default left):
    (their token, the sides given)."""
    status, started = call(port, "POST", "/api/participants", {}, connection=connection)
    assert status == 201, started
    token, sides = started["token"], []
    while True:
        status, view = call(port, "GET", f"/api/next?token={token}", connection=connection)
        assert status == 200, view
        if view.get("done"):
            return token, sides
        side = choose(view) if choose else "left"
        status, reply = call(port, "POST", "/api/answers",
                             {"token": token, "trial": view["trial"], "choice": side,
                              "rt_ms": 300}, connection=connection)
        assert status == 201, reply
        sides.append(side)


def _postgres_program(name: str) -> str | None:
    """Debian's server programs (outside PATH), else the first on PATH."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else shutil.which(name)


@contextmanager
def postgres_server() -> Iterator[Any]:
    """A throw-away PostgreSQL server on 127.0.0.1 (as the ``postgres`` user when run as
    root); yields a function that creates a new database there and returns its URL.
    Skipped where PostgreSQL is not installed, unless CI requires it
    (``LIKENESS_REQUIRE_POSTGRES=1``)."""
    import pytest

    initdb, pg_ctl = _postgres_program("initdb"), _postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("LIKENESS_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required here (LIKENESS_REQUIRE_POSTGRES=1) but "
                        "initdb / pg_ctl are not installed")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="likeness-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data, log = root / "data", root / "log"
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "likeness", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60",
                        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True, timeout=120)
        created = []

        def new_database() -> str:
            name = f"study{len(created)}"
            subprocess.run([*as_user, str(Path(pg_ctl).parent / "createdb"), "-h",
                            "127.0.0.1", "-p", str(port), "-U", "likeness", name],
                           check=True, capture_output=True, timeout=60)
            created.append(name)
            return f"postgresql://likeness@127.0.0.1:{port}/{name}"

        yield new_database
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def interrupt_writing(monkeypatch: Any, module: Any, name: str = "summary.md") -> None:
    """Ctrl-C (a ``KeyboardInterrupt``) when ``module`` writes its file ``name``: an
    analysis cut short after its first files (``monkeypatch.undo()`` ends it)."""
    replace = module.replace_file

    def cut_short(target: Any, text: str, **kwargs: Any) -> Any:
        if Path(target).name == name:
            raise KeyboardInterrupt
        return replace(target, text, **kwargs)

    monkeypatch.setattr(module, "replace_file", cut_short)
