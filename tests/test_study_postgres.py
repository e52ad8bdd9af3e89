"""A study served by two servers sharing one PostgreSQL database (``--database``): no
answer lost or duplicated when participants' requests alternate between the servers, and
the export reads the database."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from likeness.cli import main
from likeness.errors import LikenessError, StorageError
from likeness.study.store import open_store
from study_support import (
    SAMPLES,
    call,
    complete,
    free_port,
    make_study,
    postgres_server,
    server_thread,
    start_serve_process,
)

pytest.importorskip("psycopg")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as new_database:
        yield new_database


@pytest.fixture
def database(postgres):
    return postgres()


def test_two_servers_share_one_database_and_lose_nothing(database, tmp_path):
    study = make_study(tmp_path / "study", repeats=1, attention_checks=1)
    stores = [open_store(study.folder, study.study_id, database) for _ in range(2)]
    trials = study.design.trials_per_participant
    sent: dict[str, list[str]] = {}
    lock = threading.Lock()
    with server_thread(study, stores[0], rate=0) as first, \
            server_thread(study, stores[1], rate=0) as second:
        def participant(number: int) -> None:
            ports = (first, second) if number % 2 else (second, first)
            connections = [http.client.HTTPConnection("127.0.0.1", p, timeout=120)
                           for p in ports]
            token = call(ports[0], "POST", "/api/participants", {},
                         connection=connections[0])[1]["token"]
            sides = []
            for trial in range(trials):
                side = "right" if (number + trial) % 2 else "left"
                answer = {"token": token, "trial": trial, "choice": side}
                statuses = [call(p, "POST", "/api/answers", answer, connection=c)[0]
                            for p, c in zip(ports, connections, strict=True)]
                assert statuses == [201, 200]  # the second server knows the first's answer
                sides.append(side)
            for connection in connections:
                connection.close()
            with lock:
                sent[token] = sides

        with ThreadPoolExecutor(max_workers=40) as pool:
            list(pool.map(participant, range(40)))
    answers = stores[0].answers()
    assert len(answers) == 40 * trials
    assert len({(a.participant, a.trial) for a in answers}) == len(answers)
    tokens = stores[0].tokens()
    stored: dict[str, list[str]] = {}
    for answer in answers:
        stored.setdefault(tokens[answer.participant], []).append(answer.choice)
    assert stored == sent
    out = tmp_path / "judgments.csv"
    result = CliRunner().invoke(main, ["study", "export", str(study.folder), "--out", str(out),
                                       "--database", database])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1 + 40 * trials
    for store in stores:
        store.close()


def test_concurrent_different_answers_to_one_trial_keep_exactly_one(database, tmp_path):
    study = make_study(tmp_path / "study")
    store = open_store(study.folder, study.study_id, database)
    number = store.add_participant("t" * 32)
    trial = study.design.trials(number - 1)[0]
    barrier = threading.Barrier(8)

    def answer(index: int) -> str:
        side = "left" if index % 2 else "right"
        barrier.wait()
        return store.record(number, 0, side, trial.recorded(side), None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(answer, range(8)))
    assert outcomes.count("recorded") == 1
    assert set(outcomes) <= {"recorded", "repeated", "conflict"}
    assert len(store.answers()) == 1
    store.close()


def test_a_database_of_another_study_and_a_bad_url_are_refused(database, tmp_path):
    first = make_study(tmp_path / "first")
    second = make_study(tmp_path / "second")
    open_store(first.folder, first.study_id, database).close()
    with pytest.raises(LikenessError, match="answers of another study"):
        open_store(second.folder, second.study_id, database)
    with pytest.raises(LikenessError, match="give a postgresql:// URL"):
        open_store(second.folder, second.study_id, "mysql://x")
    with pytest.raises(StorageError, match="cannot connect") as raised:
        open_store(second.folder, second.study_id, "postgresql://nobody@127.0.0.1:1/none")
    assert "\n" not in str(raised.value)  # psycopg's lines, as one
    assert str(raised.value).endswith("; check the URL (database=URL)")
    command = CliRunner().invoke(main, ["study", "export", str(second.folder), "--out",
                                        str(tmp_path / "answers.csv"), "--database",
                                        "postgresql://nobody@127.0.0.1:1/none"])
    assert command.exit_code == 1
    assert command.output.rstrip().endswith("; check the URL (--database URL)")


def test_connections_the_database_server_ends_are_opened_anew(database, tmp_path, caplog):
    """A PostgreSQL restart or failover ends every connection: each server thread kept its
    broken one, so every later request of that thread was a 500 with a traceback."""
    import psycopg

    study = make_study(tmp_path / "study")
    store = open_store(study.folder, study.study_id, database)
    with server_thread(study, store) as port:
        token = call(port, "POST", "/api/participants", {})[1]["token"]
        assert call(port, "POST", "/api/answers", {"token": token, "trial": 0,
                                                    "choice": "left"})[0] == 201
        name = database.rsplit("/", 1)[1]
        with psycopg.connect(database.rsplit("/", 1)[0] + "/postgres",
                             autocommit=True) as admin:
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM "
                                  "pg_stat_activity WHERE datname = %s AND pid <> "
                                  "pg_backend_pid()", (name,)).fetchone()[0]
        assert ended >= 1
        statuses = [call(port, "POST", "/api/answers", {"token": token, "trial": 1,
                                                         "choice": "left"})[0]
                    for _ in range(ended + 8)]  # each thread's broken connection fails once
        assert set(statuses) <= {503, 201, 200}
        assert statuses[-1] in (200, 201)  # and is then opened anew
        assert 201 in statuses
    told = [r.getMessage() for r in caplog.records if r.name == "likeness.study"]
    assert all(line.startswith(f"the answers database {database.split('@')[1]} failed (")
               for line in told)
    with pytest.raises(StorageError, match="terminating connection"):
        store.answers()  # this thread's connection was ended too: it fails once, then
    assert [(a.trial, a.choice) for a in store.answers()] == [(0, "left"), (1, "left")]
    store.close()


def test_a_study_served_from_a_database_is_never_replaced_and_its_export_says_where(
        database, tmp_path):
    # its folder holds no answers.sqlite: it looked like a study nobody answered, and
    # --overwrite replaced the manifest its answers are read against; an export without
    # --database said only "no answers yet"
    study = make_study(tmp_path / "study", repeats=0, attention_checks=0)
    port = free_port()
    process = start_serve_process(study.folder, port, "--database", database)
    try:
        complete(port)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert not (study.folder / "answers.sqlite").exists()
    where = database.split("@")[-1]
    runner = CliRunner()
    created = runner.invoke(main, ["study", "create", str(SAMPLES / "reference"),
                                   str(SAMPLES / "jpeg"), str(SAMPLES / "stylized"),
                                   "--out-dir", str(study.folder), "--overwrite"])
    assert created.exit_code == 1
    assert f"handed out to participants (served with answers in {where})" in created.stderr
    assert json.loads((study.folder / "study.json").read_text())["study_id"] == study.study_id
    out = tmp_path / "judgments.csv"
    exported = runner.invoke(main, ["study", "export", str(study.folder), "--out", str(out)])
    assert exported.exit_code == 1
    assert f"served with answers in {where}: pass --database" in exported.stderr
    exported = runner.invoke(main, ["study", "export", str(study.folder), "--out", str(out),
                                    "--database", database])
    assert exported.exit_code == 0, exported.output
    assert "answers left out" not in exported.stderr
    trials = study.design.trials_per_participant
    assert len(out.read_text().splitlines()) == 1 + trials


def test_a_server_that_accepts_and_says_nothing_is_an_error_in_seconds(tmp_path, monkeypatch):
    """libpq waits for ever by default for a server that accepts the connection and never
    speaks (a stalled server, the wrong service behind the port); the URL's own
    connect_timeout wins over likeness's bound."""
    import socket
    import time

    from likeness.study import store

    study = make_study(tmp_path / "study", repeats=1, attention_checks=1)
    silent = socket.create_server(("127.0.0.1", 0))
    held = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(silent.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setitem(store._POSTGRES_BOUNDS, "connect_timeout", 1)
    url = f"postgresql://nobody@127.0.0.1:{silent.getsockname()[1]}/none"
    try:
        for given, least, most in ((url, 0.9, 8.0), (url + "?connect_timeout=3", 2.9, 10.0)):
            started = time.monotonic()
            with pytest.raises(StorageError, match="cannot connect to the database: "
                               "connection timeout expired"):
                open_store(study.folder, study.study_id, given)
            assert least < time.monotonic() - started < most
    finally:
        stop.set()
        silent.close()
        for connection in held:
            connection.close()
