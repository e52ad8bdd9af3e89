"""The weights manager, against a real HTTP server on 127.0.0.1 serving generated files."""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import re
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from likeness import LikenessError, WeightsError
from likeness.cli import main
from likeness.nets import weights as manager
from likeness.nets.loading import load_state_dict

PAYLOAD = b"likeness test checkpoint " * 40_000  # ~1 MB, streamed in several blocks
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
PORTAL = b"<!DOCTYPE html>\n<html><body>Sign in to the guest network</body></html>"


class _Server:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.delay = 0.0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                served.requests.append(self.path)
                if self.path.endswith(("/trickle.pth", "/silent.pth", "/slow-headers.pth",
                                       "/garbage.pth", "/hangup.pth")):
                    self._misbehave(self.path.rsplit("/", 1)[1])
                    return
                if self.path.endswith("/unsized.pth"):  # no Content-Length: up to the close
                    self.send_response(200)
                    self.end_headers()
                    for start in range(0, len(PAYLOAD), 1 << 16):
                        self.wfile.write(PAYLOAD[start:start + (1 << 16)])
                        self.wfile.flush()
                    self.close_connection = True
                    return
                if self.path.endswith("/interrupted.pth"):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(PAYLOAD)))
                    self.end_headers()
                    self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if not self.path.endswith(".pth"):
                    self.send_error(404)
                    return
                body = (b"tampered" + PAYLOAD if self.path.endswith("/wrong.pth") else
                        PORTAL if self.path.endswith("/portal.pth") else PAYLOAD)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 1 << 18):
                    time.sleep(served.delay)
                    self.wfile.write(body[start:start + (1 << 18)])

            def _misbehave(self, how: str) -> None:
                """A server that never fails outright: bytes trickle, or stop, or are
                no HTTP; each bounded to a few seconds."""
                if how == "hangup.pth":
                    self.close_connection = True
                    return
                if how == "garbage.pth":
                    self.wfile.write(b"HELLO THERE\r\n\r\n")
                    return
                if how == "slow-headers.pth":
                    self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                    for _ in range(40):
                        time.sleep(0.1)
                        self.wfile.write(b"X-Wait: 1\r\n")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                for _ in range(40):
                    time.sleep(0.1)
                    if how == "trickle.pth":
                        self.wfile.write(b"x")
                        self.wfile.flush()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that stopped reading (a full disk, a stall): as intended

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = _Server()
    yield running
    running.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache: LIKENESS_WEIGHTS_DIR and TORCH_HOME in a temporary folder, online."""
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("LIKENESS_OFFLINE", raising=False)
    monkeypatch.delenv("LIKENESS_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "weights"


def _register(monkeypatch, server, file_name, *, sha256=DIGEST, prefix=None, name="testnet"):
    checkpoint = manager.Checkpoint(name, file_name, f"{server.base}/files/{file_name}",
                                    sha256, prefix, "test", "a generated file")
    monkeypatch.setitem(manager.REGISTRY, name, checkpoint)
    return checkpoint


def test_download_verifies_and_caches(server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth")
    seen = []
    resolved = manager.resolve("testnet", progress=lambda done, total: seen.append((done, total)))
    assert resolved.source == "download"
    assert resolved.sha256 == DIGEST
    assert resolved.path == cache / "good.pth"
    assert resolved.path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    again = manager.resolve("testnet")
    assert again.source == "cache"
    assert len(server.requests) == 1
    assert sorted(p.name for p in cache.iterdir()) == ["good.pth", "good.pth.lock"]


def test_hash_prefix_from_the_file_name_is_checked(server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth", sha256=None, prefix=DIGEST[:8])
    assert manager.resolve("testnet").sha256 == DIGEST


def test_wrong_hash_is_refused_and_nothing_is_left(server, cache, monkeypatch):
    _register(monkeypatch, server, "wrong.pth")
    with pytest.raises(WeightsError, match=r"SHA-256 .* expected SHA-256 " + DIGEST) as error:
        manager.resolve("testnet")
    assert "likeness weights import wrong.pth" in str(error.value)
    assert not (cache / "wrong.pth").exists()
    assert not list(cache.glob("*.part"))


def test_interrupted_download_leaves_nothing(server, cache, monkeypatch):
    _register(monkeypatch, server, "interrupted.pth")
    with pytest.raises(WeightsError, match="interrupted|failed"):
        manager.resolve("testnet")
    assert not (cache / "interrupted.pth").exists()
    assert not list(cache.glob("*.part"))


@pytest.mark.parametrize(("file_name", "expected"), [
    ("trickle.pth", r"sent \d+ bytes in \d+ s, slower than 1024 bytes/s"),
    ("silent.pth", r"nothing arrived for \d+ s"),
    ("slow-headers.pth", r"reply had not begun within \d+ s"),
    ("hangup.pth", r"failed \(the server closed the connection without a reply\)"),
    ("garbage.pth", r"failed \(the reply is not HTTP: it began 'HELLO THERE'\); try again"),
])
def test_a_server_that_trickles_stalls_or_speaks_no_http_fails_in_bounded_time(
        server, cache, monkeypatch, file_name, expected):
    from likeness.nets import transfer

    monkeypatch.setattr(transfer, "STALL_SECONDS", 0.5)
    _register(monkeypatch, server, file_name)
    started = time.monotonic()
    with pytest.raises(WeightsError, match=expected) as error:
        manager.resolve("testnet")
    assert time.monotonic() - started < 3, "a stalled download must end at the stall limit"
    assert f"likeness weights import {file_name}" in str(error.value)
    assert not (cache / file_name).exists()
    assert not list(cache.glob("*.part"))


def test_offline_mode_says_what_to_do(server, cache, monkeypatch):
    checkpoint = _register(monkeypatch, server, "good.pth")
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    with pytest.raises(WeightsError) as error:
        manager.resolve("testnet")
    message = str(error.value)
    for part in (checkpoint.url, str(cache / "good.pth"), DIGEST, "likeness weights import"):
        assert part in message
    assert server.requests == []


def test_mirror_replaces_the_origin(server, cache, monkeypatch):
    checkpoint = manager.Checkpoint("testnet", "good.pth", "http://127.0.0.1:9/unreachable.pth",
                                    DIGEST, None, "test", "")
    monkeypatch.setitem(manager.REGISTRY, "testnet", checkpoint)
    monkeypatch.setenv("LIKENESS_WEIGHTS_MIRROR", f"{server.base}/mirror/")
    assert manager.resolve("testnet").sha256 == DIGEST
    assert server.requests == ["/mirror/good.pth"]
    (cache / "good.pth").unlink()
    monkeypatch.setenv("LIKENESS_WEIGHTS_MIRROR", "http://127.0.0.1:9/mirror")  # no server
    with pytest.raises(WeightsError, match=re.escape(
            "downloading http://127.0.0.1:9/mirror/good.pth from LIKENESS_WEIGHTS_MIRROR "
            "(check it, or unset it to fetch http://127.0.0.1:9/unreachable.pth) failed")):
        manager.resolve("testnet")


def test_torch_hub_cache_is_reused_without_network(server, tmp_path, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth")
    monkeypatch.delenv("LIKENESS_WEIGHTS_DIR")
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "good.pth").write_bytes(PAYLOAD)
    resolved = manager.resolve("testnet")
    assert (resolved.path, resolved.source) == (hub / "good.pth", "cache")
    assert server.requests == []


def test_corrupt_cached_file_is_never_used(server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth")
    cache.mkdir(parents=True)
    (cache / "good.pth").write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="does not match checkpoint 'testnet'"):
        manager.resolve("testnet")


def test_concurrent_downloads_fetch_once(server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth")
    server.delay = 0.05
    results, errors = [], []

    def fetch() -> None:
        try:
            results.append(manager.resolve("testnet"))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert {r.sha256 for r in results} == {DIGEST}
    assert len(server.requests) == 1
    assert (cache / "good.pth").read_bytes() == PAYLOAD


def test_a_run_waiting_for_another_process_s_download_says_so(server, cache, monkeypatch):
    """A process that waited for another's download of the same checkpoint (its lock) sat
    on a bar of 0 pairs without a word; the wait is a line of the run's progress."""
    from filelock import FileLock

    from likeness.nets.weights_scope import reporting_downloads

    _register(monkeypatch, server, "good.pth")
    cache.mkdir(parents=True)
    held = FileLock(str(cache / "good.pth.lock"))
    held.acquire()
    stages, results = [], []

    def run() -> None:
        with reporting_downloads(lambda *stage: stages.append(stage)):
            results.append(manager.resolve("testnet"))

    waiter = threading.Thread(target=run)
    try:
        waiter.start()
        deadline = time.monotonic() + 30
        while not stages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stages == [("download good.pth (another process is downloading it)", 0, 0)]
        (cache / "good.pth").write_bytes(PAYLOAD)  # what the other process downloaded
    finally:
        held.release()
        waiter.join(timeout=30)
    assert results[0].sha256 == DIGEST
    assert server.requests == []  # taken from the other process, not downloaded again
    # the wait's line ends full, at the file's size: it does not pulse on beside the pairs
    assert stages[-1] == ("download good.pth (another process is downloading it)",
                          len(PAYLOAD), len(PAYLOAD))


def test_unpublished_hash_is_recorded_at_first_download(server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth", sha256=None, prefix=None)
    assert manager.resolve("testnet").sha256 == DIGEST
    assert (cache / "good.pth.sha256").read_text().strip() == DIGEST
    (cache / "good.pth").write_bytes(PAYLOAD + b"changed")
    manager._verified.clear()
    with pytest.raises(WeightsError, match="recorded at its first download"):
        manager.resolve("testnet")


def test_import_verifies_then_copies(tmp_path, server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth")
    source = tmp_path / "good.pth"
    source.write_bytes(PAYLOAD)
    imported = manager.import_file(source)
    assert imported.path == cache / "good.pth"
    assert imported.sha256 == DIGEST
    bad = tmp_path / "elsewhere" / "good.pth"
    bad.parent.mkdir()
    bad.write_bytes(b"not it")
    (cache / "good.pth").unlink()
    with pytest.raises(WeightsError, match="does not match"):
        manager.import_file(bad)
    assert not (cache / "good.pth").exists()
    mystery = bad.with_name("mystery.pth")
    bad.rename(mystery)
    with pytest.raises(WeightsError, match="not a published checkpoint file name"):
        manager.import_file(mystery)



def test_downloaded_and_imported_checkpoints_take_the_umask(tmp_path, server, cache,
                                                            monkeypatch):
    """Checkpoints in a shared cache are readable as any file the user makes (mkstemp's
    temporary files were the owner's alone)."""
    _register(monkeypatch, server, "good.pth")
    source = tmp_path / "good.pth"
    source.write_bytes(PAYLOAD)
    previous = os.umask(0o022)
    try:
        downloaded = manager.resolve("testnet").path
        modes = [stat.S_IMODE(downloaded.stat().st_mode)]
        downloaded.unlink()
        modes.append(stat.S_IMODE(manager.import_file(source).path.stat().st_mode))
    finally:
        os.umask(previous)
    assert modes == [0o644, 0o644]
    assert sorted(p.name for p in cache.iterdir()) == ["good.pth", "good.pth.lock"]

def test_weights_cli(tmp_path, server, cache, monkeypatch):
    _register(monkeypatch, server, "good.pth")
    runner = CliRunner()
    listed = runner.invoke(main, ["weights", "list"])
    assert listed.exit_code == 0
    assert "alexnet-owt-7be5be79.pth" in listed.stdout
    missing = runner.invoke(main, ["weights", "path", "testnet"])
    assert missing.exit_code == 1
    assert str(cache / "good.pth") in missing.stdout
    downloaded = runner.invoke(main, ["weights", "download", "testnet"])
    assert downloaded.exit_code == 0, downloaded.output
    assert DIGEST in downloaded.stdout
    assert "downloading testnet" in downloaded.stderr
    verified = runner.invoke(main, ["weights", "verify", "testnet"])
    assert verified.exit_code == 0
    assert "ok" in verified.stdout
    (cache / "good.pth").unlink()
    source = tmp_path / "good.pth"
    source.write_bytes(PAYLOAD)
    imported = runner.invoke(main, ["weights", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert (cache / "good.pth").read_bytes() == PAYLOAD
    unknown = runner.invoke(main, ["weights", "download", "nonet"])
    assert unknown.exit_code == 2


def test_weights_download_of_unknown_size_says_each_10_mb_not_each_block(server, cache,
                                                                         monkeypatch):
    _register(monkeypatch, server, "unsized.pth")
    downloaded = CliRunner().invoke(main, ["weights", "download", "testnet"])
    assert downloaded.exit_code == 0, downloaded.output
    assert downloaded.stderr.count("downloading testnet") == 1  # was one line per block


def test_load_state_dict_is_safe_and_explains_bad_files(tmp_path):
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "ok.pth")
    assert set(load_state_dict(tmp_path / "ok.pth")) == {"features.0.weight"}
    whole = (tmp_path / "ok.pth").read_bytes()
    # garbage, nothing, half a file, another format: none of them holds Python objects
    for name, data in (("bad.pth", b"garbage"), ("empty.pth", b""),
                       ("cut.pth", whole[:len(whole) // 2]), ("text.pth", b"PK\x03\x04no")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(WeightsError, match=f"{name}: not a loadable checkpoint \\(its "
                           "bytes are not those of a whole torch checkpoint: empty, cut "
                           "short, damaged or another format\\); use the published file"):
            load_state_dict(tmp_path / name)
    # named .safetensors: torch.load sent the path to the safetensors package ("not
    # installed: pip install safetensors") whatever its bytes; the bytes decide
    (tmp_path / "renamed.safetensors").write_bytes(whole)
    assert set(load_state_dict(tmp_path / "renamed.safetensors")) == {"features.0.weight"}
    for name, data in (("huge.safetensors", (2**63).to_bytes(8, "little") + b"{}"),
                       ("list.safetensors", (7).to_bytes(8, "little") + b"[1,2,3]")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(WeightsError, match=f"{name}: not a loadable checkpoint .* \\(named "
                           r"\.safetensors, but its first bytes are no safetensors header "
                           "either\\); use the published file") as error:
            load_state_dict(tmp_path / name)
        assert "pip install" not in str(error.value)


def test_a_user_supplied_file_is_hashed_once_and_again_when_it_changes(tmp_path, monkeypatch):
    import likeness.nets.weights as weights_module

    path = tmp_path / "mine.pth"
    path.write_bytes(b"first version")
    calls = []
    original = weights_module.file_sha256
    monkeypatch.setattr(weights_module, "file_sha256",
                        lambda p: calls.append(p) or original(p))
    first = weights_module.resolve("alexnet", path)
    assert weights_module.resolve("alexnet", path).sha256 == first.sha256
    assert len(calls) == 1
    path.write_bytes(b"second version, longer")
    assert weights_module.resolve("alexnet", path).sha256 != first.sha256
    assert len(calls) == 2


def _new_process(monkeypatch) -> None:
    """What a new process starts with: no checkpoint hash remembered in memory."""
    monkeypatch.setattr(manager, "_hashed", {})
    monkeypatch.setattr(manager, "_verified", {})


def _hashed_files(monkeypatch) -> list:
    """Every file hashed from now on, by the weights manager or by a cache."""
    import likeness.evaluation.infra.cache as cache_module

    hashed: list = []
    for module, name in ((manager, "file_sha256"), (cache_module, "file_digest")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda path, original=original: (
            hashed.append(Path(path)), original(path))[1])
    return hashed


def test_a_runs_cache_remembers_its_checkpoints_hashes_from_run_to_run(
        tmp_path, monkeypatch, stand_in):
    import shutil

    import numpy as np
    from PIL import Image

    import likeness
    import likeness.evaluation.infra.cache as cache_module

    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)  # the checkpoint was just written
    checkpoint = tmp_path / "alexnet.pth"
    shutil.copy(stand_in["alexnet"], checkpoint)
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((64, 64, 3), 90 if folder == "ref" else 100, np.uint8)).save(
            tmp_path / folder / "a.png")

    def run() -> tuple[str, list]:
        _new_process(monkeypatch)
        hashed = _hashed_files(monkeypatch)
        result = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="lpips",
                                  weights={"alexnet": str(checkpoint)},
                                  cache=tmp_path / "cache.sqlite")
        assert result.rows[0].error is None
        return result.record["weights"]["alexnet"]["sha256"], hashed

    first, hashed = run()
    assert first == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert checkpoint in hashed
    again, hashed = run()  # a new process, the same cache: nothing hashed again
    assert (again, hashed) == (first, [])
    # what cp -p or rsync -t leave: other bytes, the same size and modification time
    stamp = checkpoint.stat()
    state = torch.load(checkpoint, weights_only=True)
    state["features.0.bias"] = state["features.0.bias"] + 1
    torch.save(state, checkpoint)
    assert checkpoint.stat().st_size == stamp.st_size
    os.utime(checkpoint, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    changed, hashed = run()
    assert changed == hashlib.sha256(checkpoint.read_bytes()).hexdigest() != first
    assert checkpoint in hashed


def test_a_cache_that_cannot_remember_a_checkpoints_hash_leaves_it_hashed(tmp_path,
                                                                        monkeypatch):
    from likeness.errors import StorageError

    path = tmp_path / "mine.pth"
    path.write_bytes(b"weights")

    def broken(_):
        raise StorageError("cannot write the cache (disk full)")

    _new_process(monkeypatch)
    with manager.hashing_by(broken):
        resolved = manager.resolve("alexnet", path)
    assert resolved.sha256 == hashlib.sha256(b"weights").hexdigest()


def test_weights_verify_and_imports_always_hash_the_file(tmp_path, monkeypatch):
    checkpoint = manager.Checkpoint("testnet", "good.pth", "", DIGEST, None, "test", "file")
    monkeypatch.setitem(manager.REGISTRY, "testnet", checkpoint)
    path = tmp_path / "good.pth"
    path.write_bytes(PAYLOAD + b"changed")
    with manager.hashing_by(lambda _: DIGEST):  # a cache that remembered the old bytes
        with pytest.raises(WeightsError, match="does not match"):
            manager.verify(checkpoint, path)
        with pytest.raises(WeightsError, match="does not match"):
            manager.import_file(path)


def test_a_path_that_is_no_checkpoint_file_is_named_for_what_it_is(tmp_path):
    """A folder, a FIFO (which would block a read forever) or a broken link given as a
    checkpoint is said to be one, in the Python API and on the command line."""
    fifo = tmp_path / "fifo.pth"
    os.mkfifo(fifo)
    (tmp_path / "broken.pth").symlink_to(tmp_path / "nowhere.pth")
    cases = {tmp_path: "a folder, not a checkpoint file",
             fifo: "not a regular file (a FIFO, socket or device)",
             tmp_path / "broken.pth": "a broken link, not a checkpoint file",
             tmp_path / "missing.pth": "no such checkpoint file"}
    for path, message in cases.items():
        with pytest.raises(WeightsError, match=re.escape(message)):
            manager.resolve("alexnet", path)
        with pytest.raises(WeightsError, match=re.escape(message)):
            manager.import_file(path, "alexnet")
    result = CliRunner().invoke(main, ["fid", str(tmp_path), str(tmp_path), "--weights",
                                       f"pt_inception={fifo}"])
    assert "not a regular file" in result.output
    assert "Traceback" not in result.output


def test_a_weights_folder_that_cannot_be_written_is_one_message(tmp_path, server, cache,
                                                                monkeypatch):
    """LIKENESS_WEIGHTS_DIR naming a file (or a folder without write permission) ended in
    "unexpected FileExistsError … a bug in likeness" when a download or an import began."""
    _register(monkeypatch, server, "good.pth")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(blocked))
    source = tmp_path / "good.pth"
    source.write_bytes(PAYLOAD)
    for attempt in (lambda: manager.resolve("testnet"), lambda: manager.import_file(source)):
        with pytest.raises(WeightsError, match="cannot write checkpoints into .*a-file .*a "
                                               "file, not a folder, is there.*set "
                                               "LIKENESS_WEIGHTS_DIR to a folder you can write"):
            attempt()
    assert server.requests == []  # refused before anything was downloaded


class _FullDiskFile:
    """A file whose writes fail as they do on a full disk."""

    def __init__(self, handle: int, mode: str) -> None:
        os.close(handle)

    def __enter__(self) -> _FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_a_download_is_not_called_a_failed_download(server, cache,
                                                                       monkeypatch):
    """It said "downloading … failed ([Errno 28] …); download … on a machine with internet
    access": the disk, not the network, is what to fix (measured on a full tmpfs)."""
    _register(monkeypatch, server, "good.pth")
    monkeypatch.setattr(manager.os, "fdopen", _FullDiskFile)
    with pytest.raises(WeightsError) as error:
        manager.resolve("testnet")
    assert str(error.value).startswith(f"cannot write checkpoints into {cache} (No space left "
                                       "on device): free some space, or set "
                                       "LIKENESS_WEIGHTS_DIR to a folder you can write")
    assert "internet" not in str(error.value)
    assert not list(cache.glob("*.part"))
    assert not (cache / "good.pth").exists()


def test_a_checkpoint_that_cannot_be_read_is_one_message_not_a_bug(server, cache, monkeypatch):
    """A cached or given checkpoint without read permission (measured as another user) was
    "unexpected PermissionError … a bug in likeness" in compare, fid and weights verify.
    Root reads every file, so the module's ``open`` fails as it fails for that user."""
    _register(monkeypatch, server, "good.pth")
    manager.resolve("testnet")  # downloaded and cached
    real_open = open

    def denied(path, *args, **kwargs):
        if Path(path).name == "good.pth":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(manager, "open", denied, raising=False)
    manager._verified.clear()
    expected = (f"{cache / 'good.pth'}: the checkpoint cannot be read (Permission denied): "
                "make it readable, or pass a readable copy")
    with pytest.raises(WeightsError, match=re.escape(expected)):
        manager.resolve("testnet")
    with pytest.raises(WeightsError, match=re.escape(expected)):
        manager.resolve("testnet", cache / "good.pth")  # given explicitly
    def hasher(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    with manager.hashing_by(hasher), pytest.raises(WeightsError, match=re.escape(expected)):
        manager.resolve("testnet", cache / "good.pth")
    result = CliRunner().invoke(main, ["weights", "verify", "testnet"])
    assert result.exit_code == 1
    assert f"testnet\tFAILED\t{expected}: --weights NAME=PATH" in result.output
    assert "bug" not in result.output


@pytest.mark.parametrize("value", ["maybe", "2", "offline"])
def test_a_switch_set_to_a_word_it_does_not_take_is_refused(cache, monkeypatch, value):
    """LIKENESS_OFFLINE=false was taken as set (offline); any other word is now refused."""
    from likeness.switches import check_switches, switch

    for word, meaning in (("false", False), ("No", False), ("on", True), (" 1 ", True),
                          ("", None)):
        monkeypatch.setenv("LIKENESS_OFFLINE", word)
        assert switch("LIKENESS_OFFLINE") is meaning
    monkeypatch.setenv("LIKENESS_OFFLINE", value)
    with pytest.raises(LikenessError, match=f"LIKENESS_OFFLINE='{value}' is not a switch: "
                                            "set it to 1 or 0"):
        check_switches()
    result = CliRunner().invoke(main, ["weights", "list"])
    assert result.exit_code == 1
    assert "is not a switch" in result.output


def test_the_checkpoint_of_another_network_is_named(server, cache, tmp_path, monkeypatch):
    """A file given for the wrong network (`--weights vgg16=alexnet-….pth`, `weights import
    … --name vgg16`) was "corrupt or a different release"."""
    _register(monkeypatch, server, "good.pth")  # the file's own network, by its hash
    _register(monkeypatch, server, "other.pth", sha256="0" * 64, name="othernet")
    given = tmp_path / "good.pth"
    given.write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match=re.escape(
            "; it is the published checkpoint of 'testnet' (good.pth), not of 'othernet', "
            "whose file is other.pth — ")):
        manager.verify(manager.REGISTRY["othernet"], given)
    given.write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="; the file is corrupt or a different release — "):
        manager.verify(manager.REGISTRY["othernet"], given)


def test_a_web_page_in_place_of_a_checkpoint_is_named(server, cache, tmp_path, monkeypatch):
    """A download through a captive portal (or a proxy's refusal) saves its page: "has
    SHA-256 …" alone left the user to guess; so did a page saved by hand and imported."""
    from likeness.io.integrity import WEB_PAGE

    _register(monkeypatch, server, "portal.pth")
    with pytest.raises(WeightsError, match=re.escape(f" ({len(PORTAL)} bytes: {WEB_PAGE}); it "
                                                     "was discarded")):
        manager.resolve("testnet")
    saved = tmp_path / "portal.pth"
    saved.write_bytes(PORTAL)
    with pytest.raises(WeightsError, match=re.escape(f"; it is {WEB_PAGE} — ")):
        manager.verify(manager.REGISTRY["testnet"], saved)
    with pytest.raises(WeightsError, match=re.escape(f"portal.pth: {WEB_PAGE}")):
        load_state_dict(saved)


@pytest.mark.parametrize("blocker", ["folder", "broken link"])
def test_something_in_the_checkpoints_place_is_named_not_overwritten_or_ignored(
        server, cache, tmp_path, monkeypatch, blocker):
    _register(monkeypatch, server, "good.pth")
    cache.mkdir()
    place = cache / "good.pth"
    if blocker == "folder":
        place.mkdir()
    else:
        place.symlink_to(tmp_path / "unmounted" / "good.pth")
    with pytest.raises(WeightsError, match=rf"{re.escape(str(place))}, where checkpoint "
                       rf"'testnet' is downloaded to, is in the way \(a {blocker}, not a "
                       r"checkpoint file\): remove it, or download") as error:
        manager.resolve("testnet")
    assert "likeness weights import good.pth" in str(error.value)
    assert server.requests == []
    assert os.path.lexists(place)
    assert not list(cache.glob("*.part"))
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    with pytest.raises(WeightsError, match=rf"is not in {re.escape(str(cache))} or .*"
                       rf"\({re.escape(str(place))}: a {blocker}, not a checkpoint file\) "
                       "and LIKENESS_OFFLINE is set"):
        manager.resolve("testnet")
    # `weights verify` named it "missing" (given the name) or passed over it (not given)
    for arguments in (["testnet"], []):
        result = CliRunner().invoke(main, ["weights", "verify", *arguments])
        assert result.exit_code == 1, result.output
        assert f"testnet\tFAILED\t{place}: a {blocker}, not a checkpoint file" in result.output


@pytest.mark.parametrize("metrics", ["lpips", "fid"])
def test_a_run_downloads_a_checkpoint_once_even_when_the_download_fails(
        server, cache, monkeypatch, tmp_path, metrics):
    """A run resolves a checkpoint in several places (its cache keys, its network, its
    record): a download that failed its hash was fetched again by each, a network's
    hundreds of megabytes every time."""
    import numpy as np
    from PIL import Image

    import likeness

    name = "alexnet" if metrics == "lpips" else "pt_inception"
    checkpoint = manager.REGISTRY[name]
    monkeypatch.setitem(manager.REGISTRY, name, manager.Checkpoint(
        name, checkpoint.file_name, f"{server.base}/files/wrong.pth", DIGEST, None, "test",
        "a generated file"))
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        for index in range(3):
            Image.fromarray(np.full((64, 64, 3), 40 * index + (folder == "out"),
                                    np.uint8)).save(tmp_path / folder / f"{index}.png")
    stages = []
    with pytest.warns(UserWarning, match="failed"):
        result = likeness.compare(tmp_path / "ref", tmp_path / "out",
                                  metrics=f"ssim,{metrics}", cache=False,
                                  progress=lambda *stage: stages.append(stage))
    assert server.requests == ["/files/wrong.pth"]
    # the download is a stage of the run's progress, in bytes: the bar stood at 0 pairs
    fetched = [stage for stage in stages if stage[0] == f"download {checkpoint.file_name}"]
    assert fetched[-1][1:] == (len(PAYLOAD) + len(b"tampered"),) * 2
    assert "has SHA-256" in result.record["weights"][name]["error"]


@pytest.mark.parametrize("where", ["offline", "closed port", "404"])
def test_a_server_out_of_reach_is_said_in_words(server, cache, monkeypatch, where):
    """A machine offline read "failed (<urlopen error [Errno -2] Name or service not
    known>)", Python's words."""
    import socket

    if where == "offline":
        def no_resolver(*args, **kwargs):
            raise socket.gaierror(-2, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_resolver)
        url, expected = ("http://weights.example/good.pth",
                         "the name weights.example cannot be resolved (Name or service not "
                         "known): this machine is offline, or the address is wrong")
    elif where == "closed port":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url, expected = (f"http://127.0.0.1:{port}/good.pth",
                         f"127.0.0.1:{port} refused the connection: no server listens there")
    else:
        url, expected = f"{server.base}/files/gone.bin", "the server answered HTTP 404 Not Found"
    monkeypatch.setitem(manager.REGISTRY, "testnet", manager.Checkpoint(
        "testnet", "good.pth", url, DIGEST, None, "test", "a generated file"))
    leaked = []  # the 404's reply kept its connection open: a ResourceWarning in a later test
    monkeypatch.setattr(sys, "unraisablehook", lambda raised: leaked.append(raised.exc_value))
    with pytest.raises(WeightsError) as error:
        manager.resolve("testnet")
    assert f"downloading {url} failed ({expected}); try again" in str(error.value)
    assert "urlopen" not in str(error.value)
    del error  # its context chain holds the HTTP error
    gc.collect()
    assert leaked == []
