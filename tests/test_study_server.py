"""``likeness study serve``: a real server on loopback — participants, hostile requests,
200 concurrent participants, a server killed mid-study — and the export that ``likeness
study analyze`` reads."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.study import create_study
from likeness.study.store import open_store
from study_support import (
    SAMPLES,
    call,
    complete,
    free_port,
    make_study,
    prefer,
    server_thread,
    start_serve_process,
)

pytest.importorskip("uvicorn")


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path / "study", repeats=2, attention_checks=2)


@pytest.fixture
def served(study):
    store = open_store(study.folder, study.study_id)
    with server_thread(study, store) as port:
        yield study, store, port
    store.close()


def _rows(folder):
    with sqlite3.connect(folder / "answers.sqlite") as connection:
        return connection.execute("SELECT participant, trial, choice FROM answers "
                                  "ORDER BY participant, trial").fetchall()


def test_participants_complete_the_study_and_analyze_reads_the_export(served, tmp_path):
    study, _, port = served
    for _ in range(4):
        complete(port, prefer(study, "jpeg"))
    assert len(_rows(study.folder)) == 4 * study.design.trials_per_participant
    runner = CliRunner()
    judgments = tmp_path / "judgments.csv"
    result = runner.invoke(main, ["study", "export", str(study.folder), "--out", str(judgments)])
    assert result.exit_code == 0, result.output
    lines = judgments.read_text().splitlines()
    assert lines[0] == "participant,item,a,b,choice,question,trial,rt_ms,expected,kind,source"
    assert len(lines) == 1 + 4 * study.design.trials_per_participant
    result = runner.invoke(main, ["study", "analyze", "--judgments", str(judgments),
                                  "--out-dir", str(tmp_path / "analysis"), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    scores = (tmp_path / "analysis" / "scores.csv").read_text()
    assert "jpeg" in scores
    assert "stylized" in scores
    # in one step from the study folder: the export kept beside the analysis
    result = runner.invoke(main, ["study", "analyze", "--study", str(study.folder),
                                  "--out-dir", str(tmp_path / "direct"), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "direct" / "judgments.csv").read_text() == judgments.read_text()
    assert (tmp_path / "direct" / "scores.csv").read_text() == scores
    record = json.loads((tmp_path / "direct" / "study.json").read_text())
    assert record["judgments"] == f"exported from {study.folder}"
    result = runner.invoke(main, ["study", "analyze", "--study", str(study.folder),
                                  "--judgments", str(judgments), "--out-dir",
                                  str(tmp_path / "both")])
    assert result.exit_code == 2
    assert "one of them" in result.output
    assert "degraded" not in scores  # attention checks are not scored


def test_the_same_answer_again_is_kept_once_and_a_different_one_refused(served):
    study, _, port = served
    _, started = call(port, "POST", "/api/participants", {})
    token = started["token"]
    answer = {"token": token, "trial": 0, "choice": "left", "rt_ms": 10}
    assert call(port, "POST", "/api/answers", answer)[0] == 201
    assert call(port, "POST", "/api/answers", answer)[0] == 200  # a double click
    assert call(port, "POST", "/api/answers", {**answer, "choice": "right"})[0] == 409
    assert call(port, "POST", "/api/answers", {**answer, "trial": 2})[0] == 409  # skipping
    assert call(port, "GET", f"/api/next?token={token}")[1]["trial"] == 1
    assert _rows(study.folder) == [(1, 0, "left")]


HOSTILE = [
    ("GET", "/images/../study.json", None, {}, 404),
    ("GET", "/images/..%2fstudy.json", None, {}, 404),
    ("GET", "/images/%2e%2e%2fadmin-token", None, {}, 404),
    ("GET", "/images/admin-token", None, {}, 404),
    ("GET", "/images/" + "0" * 24 + ".png", None, {}, 404),
    ("GET", "/../../etc/passwd", None, {}, 404),
    ("GET", "/study.json", None, {}, 404),
    ("GET", "/answers.sqlite", None, {}, 404),
    ("POST", "/api/answers", b"{not json", {}, 400),
    ("POST", "/api/answers", b"[1, 2]", {}, 400),
    ("POST", "/api/answers", b'{"token": 5}', {}, 400),
    ("POST", "/api/answers", b'{"token": "short", "trial": 0, "choice": "left"}', {}, 400),
    ("POST", "/api/answers", b'{"token": "' + b"a" * 32 + b'", "trial": 0, "choice": "left"}',
     {}, 404),
    ("POST", "/api/answers", b"x" * 5000, {}, 413),
    ("POST", "/api/answers", b"[" * 2000 + b"]" * 2000, {}, 400),
    ("POST", "/api/answers", b'{"trial": ' + b"9" * 4000 + b"}", {}, 400),
    ("POST", "/api/answers", b'{"token": "\xff\xfe"}', {}, 400),
    ("GET", "/api/next?token=" + "a" * 20000, None, {}, 400),
    ("GET", "/images/%2F..%2F..%2Fetc%2Fpasswd", None, {}, 404),
    ("GET", "/admin/judgments.csv?token=%00", None, {}, 403),
    ("POST", "/api/answers", b'{"a": 1}', {"Content-Type": "text/plain"}, 415),
    ("POST", "/api/participants", b"{}", {"Content-Length": "99999999999"}, 413),
    ("GET", "/api/next?token=" + "a" * 32, None, {}, 404),
    ("GET", "/api/next?token=../../etc", None, {}, 400),
    ("GET", "/api/next", None, {}, 400),
    ("GET", "/admin", None, {}, 403),
    ("GET", "/admin?token=wrong", None, {}, 403),
    ("GET", "/admin/judgments.csv", None, {"Authorization": "Bearer wrong"}, 403),
    ("DELETE", "/api/answers", None, {}, 405),
    ("PUT", "/api/participants", b"{}", {}, 405),
]


@pytest.mark.parametrize(("method", "path", "raw", "headers", "status"), HOSTILE)
def test_hostile_requests_are_refused_and_record_nothing(served, method, path, raw, headers,
                                                         status):
    study, _, port = served
    got, body = call(port, method, path, raw=raw, headers=headers)
    assert got == status, body
    assert "Traceback" not in str(body)
    assert _rows(study.folder) == []
    assert call(port, "GET", "/")[0] == 200  # still serving


@pytest.mark.parametrize("field", [{"trial": "0"}, {"trial": True}, {"trial": -1},
                                   {"trial": 10**9}, {"choice": "middle"}, {"choice": None}])
def test_malformed_answers_of_a_real_participant_are_refused(served, field):
    study, _, port = served
    token = call(port, "POST", "/api/participants", {})[1]["token"]
    status, body = call(port, "POST", "/api/answers",
                        {"token": token, "trial": 0, "choice": "left", **field})
    assert status == 400, body
    assert _rows(study.folder) == []


def test_a_chunked_body_over_the_limit_is_refused(served):
    _, _, port = served
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest("POST", "/api/participants")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for _ in range(3):
        connection.send(b"800\r\n" + b" " * 0x800 + b"\r\n")
    connection.send(b"0\r\n\r\n")
    assert connection.getresponse().status == 413
    connection.close()


def test_images_are_served_and_the_page_has_a_strict_policy(served):
    study, _, port = served
    name = next(iter(study.images))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", f"/images/{name}")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()
    assert "script-src 'nonce-" in response.getheader("Content-Security-Policy")
    connection.close()


def test_the_admin_page_shows_progress_and_exports_with_its_token(served):
    study, _, port = served
    complete(port, prefer(study, "jpeg"))
    token = study.admin_token()
    status, page = call(port, "GET", f"/admin?token={token}")
    assert status == 200
    assert "1 participant, 1 finished" in page
    status, text = call(port, "GET", "/admin/judgments.csv",
                        headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    assert text.startswith("participant,item,a,b,choice")


def test_too_many_requests_from_one_address_are_refused(study):
    store = open_store(study.folder, study.study_id)
    with server_thread(study, store, rate=0.5, burst=3) as port:
        statuses = [call(port, "GET", "/")[0] for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


def test_a_full_study_refuses_new_participants_even_when_they_come_at_once(study):
    store = open_store(study.folder, study.study_id)
    with server_thread(study, store, max_participants=5, rate=0) as port, \
            ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: call(port, "POST", "/api/participants", {})[0],
                                 range(20)))
    assert sorted(statuses) == [201] * 5 + [403] * 15
    assert len(store.participants()) == 5
    store.close()


def test_a_database_of_another_study_is_refused(study, tmp_path):
    other = make_study(tmp_path / "other")
    open_store(study.folder, study.study_id).close()
    (other.folder / "answers.sqlite").write_bytes((study.folder / "answers.sqlite")
                                                  .read_bytes())
    result = CliRunner().invoke(main, ["study", "export", str(other.folder), "--out",
                                       str(tmp_path / "j.csv")])
    assert result.exit_code == 1
    assert "answers of another study" in result.output


def test_two_hundred_concurrent_participants_lose_and_duplicate_nothing(study):
    """Each participant answers every trial on its own connection and sends every answer
    twice (a double click); all at once."""
    store = open_store(study.folder, study.study_id)
    trials = study.design.trials_per_participant
    sent: dict[str, list[str]] = {}
    lock = threading.Lock()
    with server_thread(study, store, rate=0) as port:
        def participant(number: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            token = call(port, "POST", "/api/participants", {}, connection=connection)[1]
            token = token["token"]
            sides = []
            for trial in range(trials):
                side = "left" if (number + trial) % 3 else "right"
                for expected in (201, 200):
                    status, _ = call(port, "POST", "/api/answers",
                                     {"token": token, "trial": trial, "choice": side},
                                     connection=connection)
                    assert status == expected
                sides.append(side)
            connection.close()
            with lock:
                sent[token] = sides

        with ThreadPoolExecutor(max_workers=200) as pool:
            list(pool.map(participant, range(200)))
    assert len(sent) == 200
    rows = _rows(study.folder)
    assert len(rows) == 200 * trials
    assert Counter((p, t) for p, t, _ in rows).most_common(1)[0][1] == 1
    tokens = store.tokens()
    stored = {tokens[p]: [] for p, _, _ in rows}
    for p, _, side in rows:
        stored[tokens[p]].append(side)
    assert stored == sent
    store.close()


def test_killing_the_server_mid_study_loses_no_answer(study):
    port = free_port()
    process = start_serve_process(study.folder, port)
    try:
        token = call(port, "POST", "/api/participants", {})[1]["token"]
        for trial in range(3):
            assert call(port, "POST", "/api/answers",
                        {"token": token, "trial": trial, "choice": "right"})[0] == 201
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert len(_rows(study.folder)) == 3
        process = start_serve_process(study.folder, port)
        assert call(port, "GET", f"/api/next?token={token}")[1]["trial"] == 3
        assert call(port, "POST", "/api/answers",
                    {"token": token, "trial": 3, "choice": "left"})[0] == 201
    finally:
        process.kill()
        process.wait(timeout=30)
    assert [side for _, _, side in _rows(study.folder)] == ["right"] * 3 + ["left"]


def test_serve_without_the_study_extra_says_what_to_install(study, monkeypatch):
    monkeypatch.setitem(sys.modules, "likeness.study.server", None)  # as if not installed
    result = CliRunner().invoke(main, ["study", "serve", str(study.folder)])
    assert result.exit_code == 1
    assert "pip install 'likeness-metrics[study]'" in result.output


def test_serve_refuses_a_folder_without_a_study(tmp_path):
    result = CliRunner().invoke(main, ["study", "serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds no study" in result.output
    assert "likeness study create" in result.output


def test_a_ranking_is_recorded_once_and_impossible_rankings_refused(tmp_path):
    third = tmp_path / "third"
    shutil.copytree(SAMPLES / "jpeg", third)
    study = create_study(tmp_path / "study", {"jpeg": SAMPLES / "jpeg",
                                              "stylized": SAMPLES / "stylized",
                                              "third": third},
                         reference=SAMPLES / "reference", ranking=True, attention_checks=0,
                         repeats=0)
    store = open_store(study.folder, study.study_id)
    with server_thread(study, store) as port:
        token = call(port, "POST", "/api/participants", {})[1]["token"]
        view = call(port, "GET", f"/api/next?token={token}")[1]
        assert view["ranking"] is True
        assert len(view["options"]) == 3
        for bad in ("0,1", "0,0,1", "left", "0,1,3", "x"):
            status, body = call(port, "POST", "/api/answers",
                                {"token": token, "trial": 0, "choice": bad})
            assert status == 400, body
        answer = {"token": token, "trial": 0, "choice": "2,0,1"}
        assert call(port, "POST", "/api/answers", answer)[0] == 201
        assert call(port, "POST", "/api/answers", answer)[0] == 200
        assert call(port, "POST", "/api/answers", {**answer, "choice": "0,1,2"})[0] == 409
    store.close()
    assert _rows(study.folder) == [(1, 0, "2,0,1")]


@pytest.mark.parametrize(("trusted", "second_address_served"), [("127.0.0.1", True),
                                                                  ("", False)])
def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(
        study, trusted, second_address_served):
    port = free_port()
    process = start_serve_process(study.folder, port, "--rate", "0.01", "--burst", "5",
                                  "--trusted-proxies", trusted)
    try:
        def status(address: str) -> int:
            return call(port, "GET", "/", headers={"X-Forwarded-For": address})[0]

        first = [status("198.51.100.7") for _ in range(6)]
        assert first[-1] == 429  # a burst of 5, then refused
        second = status("203.0.113.9")
    finally:
        process.kill()
        process.wait(timeout=30)
    assert (second == 200) is second_address_served


class _FailingConnection:
    """A SQLite connection whose writes fail while ``failing["now"]`` says so, as they do on
    a full disk (measured: "database or disk is full" on a tmpfs with no space left)."""

    def __init__(self, connection: sqlite3.Connection, failing: dict[str, bool]) -> None:
        self.connection, self.failing = connection, failing

    def __getattr__(self, name: str) -> object:
        return getattr(self.connection, name)

    def cursor(self) -> object:
        cursor, failing = self.connection.cursor(), self.failing

        class Cursor:
            def __getattr__(self, name: str) -> object:
                return getattr(cursor, name)

            def execute(self, sql: str, *args: object) -> object:
                if failing["now"] and sql.startswith("INSERT"):
                    raise sqlite3.OperationalError("database or disk is full")
                return cursor.execute(sql, *args)

        return Cursor()


def test_a_full_disk_is_503_for_participants_and_one_line_for_the_operator(
        served, caplog, capfd):
    """It was a 500 and uvicorn's traceback on the operator's terminal, once per answer."""
    study, store, port = served
    failing = {"now": False}
    connect = store._connect
    store._connect = lambda: _FailingConnection(connect(), failing)
    store.close()  # every thread opens its connection anew, through the failing one
    token = call(port, "POST", "/api/participants", {})[1]["token"]
    assert call(port, "POST", "/api/answers", {"token": token, "trial": 0,
                                                "choice": "left"})[0] == 201
    failing["now"] = True
    for _ in range(3):
        status, body = call(port, "POST", "/api/answers", {"token": token, "trial": 1,
                                                            "choice": "left"})
        assert status == 503
        assert body == {"error": "the server cannot store answers at the moment: please try "
                                 "again in a minute"}
    assert call(port, "POST", "/api/participants", {})[0] == 503
    told = [r.getMessage() for r in caplog.records if r.name == "likeness.study"]
    assert told == [f"the answers database {study.folder / 'answers.sqlite'} failed (database "
                    "or disk is full): free some space on its disk; every answer acknowledged "
                    "so far is kept"]
    failing["now"] = False  # space freed: the same server goes on
    assert call(port, "POST", "/api/answers", {"token": token, "trial": 1,
                                                "choice": "left"})[0] == 201
    assert _rows(study.folder) == [(1, 0, "left"), (1, 1, "left")]
    assert "Traceback" not in capfd.readouterr().err


def test_an_unexpected_failure_is_one_line_for_the_operator_not_a_traceback(
        served, caplog, capfd, monkeypatch):
    study, store, port = served

    def broken() -> None:
        raise RuntimeError("something no test foresaw")

    monkeypatch.setattr(store, "participants", broken)
    monkeypatch.delenv("LIKENESS_DEBUG", raising=False)
    status, _ = call(port, "GET", f"/admin?token={study.admin_token()}")
    assert status == 500
    deadline = time.monotonic() + 10  # told once the 500 has been sent: it may come after
    while not any(r.name == "likeness.study" for r in caplog.records) \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    told = [r.getMessage() for r in caplog.records if r.name == "likeness.study"]
    assert told == ["unexpected RuntimeError answering /admin: something no test foresaw (a "
                    "bug in likeness: please report it; LIKENESS_DEBUG=1 shows the traceback)"]
    assert "Traceback" not in capfd.readouterr().err


def test_an_image_removed_while_the_study_is_served_is_told_to_the_operator(served, caplog):
    """Starlette's FileResponse failed on it: a 500 and "a bug in likeness"."""
    study, _, port = served
    name = sorted(study.images)[0]
    study.images[name].unlink()
    status, body = call(port, "GET", f"/images/{name}")
    assert (status, body) == (404, {"error": "no such image"})
    told = [r.getMessage() for r in caplog.records if r.name == "likeness.study"]
    assert told == [f"{study.images[name]}: an image of the study is missing from its folder; "
                    "restore the folder, or create the study again"]


def test_a_study_folder_the_user_cannot_write_says_what_to_do(study):
    """SQLite writes beside a database even to read it: exporting a study folder of another
    user (measured as that user) said only "attempt to write a readonly database"."""
    store = open_store(study.folder, study.study_id)
    message = str(store._failed(sqlite3.OperationalError("attempt to write a readonly "
                                                          "database")))
    assert message == (f"the answers database {study.folder / 'answers.sqlite'} failed "
                       "(attempt to write a readonly database): it or its folder is not "
                       "writable for you, and SQLite writes beside a database even to read "
                       "it: run as the study's owner, or copy the study folder; every answer "
                       "acknowledged so far is kept")
    store.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_server_is_a_stop_not_an_error(study, stop):
    """Ctrl-C printed click's "Aborted!" (exit 1); uvicorn re-raises the signal it ends on,
    which the command line would have called an interrupted run."""
    port = free_port()
    process = start_serve_process(study.folder, port)
    process.send_signal(stop)
    process.wait(timeout=30)
    log = (study.folder.parent / f"serve-{port}.log").read_text()
    assert process.returncode == 0, log
    assert log.rstrip().endswith("server stopped; every answer given is kept")
    assert "error" not in log
    assert "Aborted" not in log


def test_an_address_the_server_cannot_listen_on_is_refused_before_it_is_announced(study):
    """Another program's port and a host that is not this machine's were uvicorn's "ERROR:
    [Errno 98] …" (exit 3), after the participants' address had been printed."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, why in (("127.0.0.1", "choose another port"),
                          ("999.1.1.1", "give an address of this machine")):
            result = CliRunner().invoke(main, ["study", "serve", str(study.folder), "--host",
                                               host, "--port", str(port)])
            assert result.exit_code == 1
            assert result.stderr.startswith(f"error: cannot listen on {host}:{port} (")
            assert why in result.stderr
            assert "participants:" not in result.output


def test_an_ipv6_address_is_announced_as_urls_write_it(study, monkeypatch):
    import likeness.study.server as server

    checked = []
    monkeypatch.setattr(server, "check_address", lambda host, port: checked.append(host))
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: None)
    for host in ("::1", "[::1]"):  # with brackets, as a URL writes it: "Name … not known"
        result = CliRunner().invoke(main, ["study", "serve", str(study.folder), "--host",
                                           host, "--port", "8123"])
        assert result.exit_code == 0, result.output
        assert "participants: http://[::1]:8123/" in result.output  # was http://::1:8123/
    assert checked == ["::1", "::1"]


def _answered_by_three(study):
    """Three participants answer every trial of ``study``, served from its folder."""
    store = open_store(study.folder, study.study_id)
    try:
        with server_thread(study, store) as port:
            for _ in range(3):
                complete(port)
    finally:
        store.close()


def test_file_and_model_names_that_are_not_utf8_are_studied_served_and_analysed(tmp_path):
    # a name's bytes that are not UTF-8 reached the manifest as lone surrogates, and
    # "'utf-8' codec can't encode character '\udcff' … surrogates not allowed" ended
    # `study create`; every file and database now holds the name as the results folders
    # write it (\udcff), so the analysis matches the compare results of the same files
    odd, model = os.fsdecode(b"odd\xff"), os.fsdecode(b"ours\xfe")
    folders = {"reference": tmp_path / "ref", model: tmp_path / "a", "base": tmp_path / "b"}
    try:
        for number, folder in enumerate(folders.values()):
            folder.mkdir()
            for name, sample in ((odd, "coffee"), ("plain", "rocket")):
                source = SAMPLES / ("jpeg" if number else "reference") / f"{sample}.png"
                shutil.copy(source, folder / f"{name}.png")
    except UnicodeError:
        pytest.skip("this filesystem refuses names that are not UTF-8")
    results = tmp_path / "results"
    likeness.compare(folders["reference"], models={model: folders[model],
                                                   "base": folders["base"]},
                     metrics="ssim", cache=False, out_dir=results)
    study = create_study(tmp_path / "study", {model: folders[model], "base": folders["base"]},
                         reference=folders["reference"], attention_checks=0, repeats=0)
    assert "odd\\udcff.png" in study.items_by_id
    assert study.manifest["models"] == ["ours\\udcfe", "base"]
    _answered_by_three(study)
    result = CliRunner().invoke(main, ["study", "analyze", "--study", str(study.folder),
                                       "--results", str(results), "--out-dir",
                                       str(tmp_path / "analysis"), "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    judgments = (tmp_path / "analysis" / "judgments.csv").read_text(encoding="utf-8")
    assert "odd\\udcff" in judgments
    assert "ours\\udcfe" in (tmp_path / "analysis" / "scores.csv").read_text(encoding="utf-8")


def test_analyze_refuses_results_that_measured_other_images_than_the_study_shows(tmp_path):
    # the metrics were scored by judgments of other pixels: an output regenerated after
    # `likeness compare` (or between it and `study create`) under the same name
    folders = {"reference": tmp_path / "ref", "jpeg": tmp_path / "jpeg",
               "stylized": tmp_path / "stylized"}
    for name, folder in folders.items():
        shutil.copytree(SAMPLES / name, folder)
    runner = CliRunner()
    compare = ["compare", *map(str, folders.values()), "--metrics", "ssim,psnr", "--no-cache",
               "--out-dir", str(tmp_path / "results")]
    assert runner.invoke(main, compare).exit_code == 0
    study = create_study(tmp_path / "study", {"jpeg": folders["jpeg"],
                                              "stylized": folders["stylized"]},
                         reference=folders["reference"], attention_checks=0, repeats=0)
    _answered_by_three(study)
    analyze = ["study", "analyze", "--study", str(study.folder), "--results",
               str(tmp_path / "results"), "--bootstrap", "100", "--out-dir"]
    result = runner.invoke(main, [*analyze, str(tmp_path / "same")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "same" / "agreement.csv").is_file()
    regenerated = folders["jpeg"] / "coffee.png"
    shutil.copy(SAMPLES / "stylized" / "coffee.png", regenerated)
    result = runner.invoke(main, [*analyze, str(tmp_path / "changed")])
    assert result.exit_code == 1
    words = " ".join(result.stderr.split())
    assert "measured other images than the study" in words
    assert f"{regenerated} changed since the run measured it" in words
    assert not (tmp_path / "changed").exists()
    # measured again, the results hold the new file; the study still shows the old one
    assert runner.invoke(main, [*compare, "--overwrite"]).exit_code == 0
    result = runner.invoke(main, [*analyze, str(tmp_path / "unlike")])
    assert result.exit_code == 1
    assert (f"{regenerated} is not the image the study shows for it"
            in " ".join(result.stderr.split()))
    # a study copy that Pillow refuses otherwise than by OSError (a header claiming 10¹⁰
    # pixels: DecompressionBombError) is said, not "unexpected … a bug"
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(
            kind + data))

    bomb = (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    for copy in (study.folder / "images").iterdir():
        copy.write_bytes(bomb)
    result = runner.invoke(main, [*analyze, str(tmp_path / "bomb")])
    assert result.exit_code == 1
    words = " ".join(result.stderr.split())
    assert "the study's copy cannot be read (DecompressionBombError" in words
    assert "unexpected" not in words


def test_analyze_refuses_results_that_flattened_transparency_otherwise_than_the_study(
        tmp_path):
    """The same files, decoded otherwise: the run composited the outputs' transparency
    over white, the study over black, so participants judged other pixels."""
    rng = np.random.default_rng(8)
    for folder in ("ref", "a", "b"):
        (tmp_path / folder).mkdir()
        for name in ("one", "two"):
            pixels = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
            pixels[..., 3] = 255 if folder == "ref" else np.where(pixels[..., 3] > 128, 255, 0)
            Image.fromarray(pixels, "RGBA").save(tmp_path / folder / f"{name}.png")
    compare = ["compare", str(tmp_path / "ref"), str(tmp_path / "a"), str(tmp_path / "b"),
               "--alpha", "white", "--no-cache", "--out-dir", str(tmp_path / "results")]
    assert CliRunner().invoke(main, compare).exit_code == 0
    for alpha, exit_code in (("black", 1), ("white", 0)):
        study = create_study(tmp_path / f"study-{alpha}", {"a": tmp_path / "a",
                                                           "b": tmp_path / "b"},
                             reference=tmp_path / "ref", alpha=alpha, attention_checks=0,
                             repeats=0)
        _answered_by_three(study)
        result = CliRunner().invoke(main, [
            "study", "analyze", "--study", str(study.folder), "--results",
            str(tmp_path / "results"), "--bootstrap", "100", "--out-dir",
            str(tmp_path / f"analysis-{alpha}")])
        assert result.exit_code == exit_code, result.output
        assert ("flattened its transparency otherwise than the run's --alpha"
                in " ".join(result.stderr.split())) == (exit_code == 1)
