"""What the Ray engine needs of Ray itself (``ray_engine``): Ray imported with a one-line
hint when the extra is missing, the connection, shipped checkpoints as one checked file per
node, and the cluster's own failures (a node out of disk, object store or memory; nodes,
workers or objects lost beyond retries) as one-line errors that say what to do."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError
from likeness.nets.weights import file_sha256

__all__ = ["INSTALL_HINT", "cluster_failures", "connect", "import_ray", "materialise_weights"]

_REFUSED = re.compile(r"^likeness\.errors\.\w+: (.+)$", re.MULTILINE)
INSTALL_HINT = "the Ray engine needs Ray: pip install 'likeness-metrics[ray]'"


def import_ray() -> Any:
    """Ray, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is part of the extra
    except ImportError:
        raise LikenessError(INSTALL_HINT) from None
    return ray


_PROBE_SECONDS = 10.0


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address`` unless joined; None: ``RAY_ADDRESS``'s, else the one
    ``ray start`` last started on this machine, else a new local one.  ``address`` wins over
    ``RAY_ADDRESS`` (Ray alone lets the variable win).  A cluster that does not answer is
    one error within seconds: Ray's own connection retries for about 13 minutes."""
    if ray.is_initialized():
        return
    environment = os.environ.get("RAY_ADDRESS") or None
    named = (f"address={address!r}" if address else f"RAY_ADDRESS={environment}"
             if environment else "the cluster `ray start` last started on this machine")
    if address == "auto" and environment:
        named += f" (RAY_ADDRESS={environment})"
    advice = ("start the cluster (ray start --head prints its address) or give a running "
              "one's" + ("; without an address, a local cluster is started here" if address
                         else ", or unset RAY_ADDRESS to start a local cluster here")
              if address or environment else "start it again (ray start --head), or run "
              "`ray stop` to forget it and start a local cluster here")
    # "auto" is Ray's "find it": RAY_ADDRESS first, then the cluster last started here;
    # "local" starts one whatever the variable says
    with _environment("RAY_ADDRESS", environment if address in (None, "auto", "local")
                      else address):
        bootstrap = _bootstrap_address(address, named)
        if bootstrap is not None and (why := _not_a_head(*bootstrap)):
            raise LikenessError(f"no Ray cluster answers at {named} ({bootstrap[0]}:"
                                f"{bootstrap[1]}: {why}): {advice}")
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
        except ConnectionError as error:
            first_line = (str(error).strip().splitlines() or [""])[0]
            if bootstrap is None:
                raise LikenessError(f"no Ray cluster found at {named} ({first_line}): "
                                    f"{advice}") from None
            # a head answered the probe: refused, most often, for want of its token (Ray
            # turns token authentication on for a local cluster it finds, not an address)
            raise LikenessError(
                f"the Ray head at {named} answers, but joining it failed ({first_line}): "
                + ("if the cluster uses token authentication (`ray start`'s default), set "
                   "RAY_AUTH_MODE=token, its token in RAY_AUTH_TOKEN or ~/.ray/auth_token; "
                   if not os.environ.get("RAY_AUTH_MODE") else "")
                + "`ray status` on the head says more") from None


# HTTP/2's connection preface and an empty SETTINGS frame: a gRPC server (Ray's GCS, Ray
# Client's server) answers with a SETTINGS frame of its own
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _not_a_head(host: str, port: int) -> str | None:
    """Why ``host:port`` is no Ray head (nothing listening, no answer, not gRPC), or None.

    Ray's own connection to a port that is not its GCS retries for about 13 minutes too:
    the dashboard's port (8265), say, answers HTTP/1.1.  Its GCS speaks gRPC, HTTP/2 in
    clear text unless ``RAY_USE_TLS`` is set (then only the connection is probed)."""
    try:
        with socket.create_connection((host, port), timeout=_PROBE_SECONDS) as probe:
            if os.environ.get("RAY_USE_TLS", "0").lower() not in ("0", "false", ""):
                return None
            probe.sendall(_HTTP2_PREFACE)
            reply = b""
            while len(reply) < 9 and (block := probe.recv(9 - len(reply))):
                reply += block
    except TimeoutError:
        return f"no answer within {_PROBE_SECONDS:.0f} s"
    except OSError as error:
        return error.strerror or str(error)
    if len(reply) == 9 and reply[3] == 4:  # a SETTINGS frame: HTTP/2, as gRPC speaks
        return None
    return ("something listens there that does not speak gRPC, as Ray's head does: the "
            "dashboard's port, 8265, or another service?")


def _bootstrap_address(address: str | None, named: str) -> tuple[str, int] | None:
    """The host and port Ray will connect to for ``address`` (``RAY_ADDRESS`` set to it);
    None where Ray starts a local cluster, or where Ray's resolution cannot be asked."""
    if address is not None and address.startswith("ray://"):  # Ray Client: port 10001
        host, colon, port = address.removeprefix("ray://").rpartition(":")
        host, port = (host, port) if colon and port.isdigit() else (host + colon + port,
                                                                    "10001")
        return host.removeprefix("[").removesuffix("]"), int(port)
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:
        return None
    try:
        # Ray annotates str but takes None (its docstring): RAY_ADDRESS, the last cluster
        bootstrap = canonicalize_bootstrap_address(address)  # type: ignore[arg-type]
    except ValueError:
        raise LikenessError(f"{named} is not a Ray cluster address: give HOST:PORT (the head "
                            "node's, port 6379 by default), ray://HOST:PORT, auto or local"
                            ) from None
    except ConnectionError:
        raise LikenessError(f"no running Ray cluster found for {named}: start one (ray start "
                            "--head), or leave the address out to start one here") from None
    if bootstrap is None:
        return None
    host, _, port = bootstrap.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


@contextlib.contextmanager
def _environment(variable: str, value: str | None) -> Iterator[None]:
    """``variable`` set to ``value`` (unset for None) within this block, as it was after."""
    before = os.environ.get(variable)
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


def materialise_weights(blobs: dict[str, tuple[bytes, str]]) -> dict[str, str]:
    """Local files of shipped checkpoints, each checked against its SHA-256: one file per
    checkpoint and node, named by its hash, in a folder of this user's under the system's
    temporary folder — written once and reused by every actor and run after it, so that
    actors that come and go leave no copies behind (a copy per actor filled the disk)."""
    folder = _weights_folder()
    paths = {}
    for name, (blob, sha256) in blobs.items():
        if hashlib.sha256(blob).hexdigest() != sha256:
            raise LikenessError(f"checkpoint {name} arrived corrupted (SHA-256 mismatch)")
        path = folder / f"{sha256}.pth"
        if not (path.is_file() and file_sha256(path) == sha256):
            handle, temporary = tempfile.mkstemp(prefix=f".{sha256}.", suffix=".part",
                                                 dir=folder)
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(blob)
                os.replace(temporary, path)  # whole or absent, for actors running beside
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        paths[name] = str(path)
    return paths


def _weights_folder() -> Path:
    """``likeness-weights-<user id>`` in the temporary folder, made private to this user;
    a folder of that name that is a link or another user's is not used (a fresh private
    folder is, removed when the process ends)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"likeness-weights-{uid if uid is not None else 'user'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.lstat()
        if stat.S_ISDIR(status.st_mode) and (uid is None or status.st_uid == uid):
            return folder
    except OSError:
        pass
    private = tempfile.mkdtemp(prefix="likeness-weights-")
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    return Path(private)


_KEPT = "values already stored in the cache or a results folder are kept, so a re-run resumes"
_RESOURCE_ADVICE = {
    "OutOfDiskError": "a node's object store was full and its disk over Ray's limit (95 % by "
                      "default), so Ray could not spill objects to disk: free disk space on "
                      "the nodes (Ray's temporary folder, /tmp/ray by default), or start Ray "
                      "with a larger object store (ray start --object-store-memory)",
    "ObjectStoreFullError": "a node's object store was full: start Ray with a larger one (ray "
                            "start --object-store-memory) or give it disk to spill to",
    "OutOfMemoryError": "a node ran out of memory and Ray stopped a worker: use a smaller "
                        "batch_size=N, fewer workers per node or nodes with more memory",
}


@contextlib.contextmanager
def cluster_failures(ray: Any) -> Iterator[None]:
    """The cluster's own failures as one-line errors that say what to do: a node out of disk,
    object store or memory (raised as such or as the cause of a failed task), nodes, workers
    or objects lost beyond Ray's retries.  A task or actor that refused its input (a
    ``LikenessError``) raises that error; a task that failed by another exception of
    likeness's own code stays what it is (a bug, reported as one)."""
    try:
        yield
    except ray.exceptions.RayError as error:
        task_failed = isinstance(error, ray.exceptions.RayTaskError)
        cause = (getattr(error, "cause", None) or error) if task_failed else error
        kind = type(cause).__name__
        if kind in _RESOURCE_ADVICE:
            raise LikenessError(f"the Ray cluster ran out of resources ({kind}): "
                                f"{_RESOURCE_ADVICE[kind]}; {_KEPT}") from error
        # a task or actor that refused its input: Ray keeps the error as its traceback's text
        if refused := _REFUSED.findall(str(error)):
            raise LikenessError(refused[-1]) from None
        if task_failed:
            raise  # likeness's own code failed in a task: not the cluster's doing
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise LikenessError(f"the Ray cluster could not finish the run ({kind}: {first_line}); "
                            f"check its nodes (ray status); {_KEPT}") from error
