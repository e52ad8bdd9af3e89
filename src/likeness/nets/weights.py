"""Network checkpoints: a registry, and a resolver that finds, fetches and verifies files.

Resolution order for a registered name:

1. an explicit path (``weights={"alexnet": "my.pth"}``, ``--weights alexnet=my.pth``),
   loaded as given and recorded as user-supplied;
2. ``$LIKENESS_WEIGHTS_DIR/<published file name>``;
3. ``$TORCH_HOME/hub/checkpoints/<published file name>`` (``TORCH_HOME`` defaults to
   ``~/.cache/torch``), so caches filled by torchvision or pytorch-fid are reused;
4. a download into ``$LIKENESS_WEIGHTS_DIR`` if set, else the torch hub folder — streamed to
   a temporary file, hashed, verified, renamed atomically, under a file lock.
   ``LIKENESS_WEIGHTS_MIRROR=<base URL>`` fetches ``<base URL>/<file name>`` instead;
   ``LIKENESS_OFFLINE=1`` forbids any download.

A file that fails verification is never used and never left in a cache.  Every failure
names the file, the URL, the expected path and hash, and how to import a file obtained
elsewhere (``likeness weights import FILE``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from likeness.arguments import PATH, check_argument_kinds
from likeness.errors import StorageError, WeightsError
from likeness.io import standing_in
from likeness.nets.checkpoints import REGISTRY, Checkpoint, published_as
from likeness.nets.transfer import TransferFailed, download_lock, stream
from likeness.nets.weights_scope import (
    download_progress,
    downloading_once,
    failed_downloads,
    hashing_by,
    passing_weights_as,
    weights_argument,
    weights_hasher,
)
from likeness.switches import switch

__all__ = ["REGISTRY", "Checkpoint", "ResolvedWeights", "cache_dirs", "download",
           "downloading_once", "file_sha256", "hashing_by", "import_file", "in_the_way",
           "passing_weights_as", "resolve"]

ProgressCallback = Callable[[int, "int | None"], None]


def _checkpoint(name: str) -> Checkpoint:
    if name not in REGISTRY:
        raise WeightsError(f"unknown checkpoint {name!r}; registered: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def cache_dirs() -> list[Path]:
    """The folders searched, in order: $LIKENESS_WEIGHTS_DIR, then $TORCH_HOME/hub/checkpoints."""
    dirs = []
    if os.environ.get("LIKENESS_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["LIKENESS_WEIGHTS_DIR"]).expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", "~/.cache/torch")).expanduser()
    dirs.append(torch_home / "hub" / "checkpoints")
    return dirs


def download_dir() -> Path:
    """Where downloads and imports go: $LIKENESS_WEIGHTS_DIR if set, else the torch hub folder."""
    return cache_dirs()[0]


def source_url(checkpoint: Checkpoint) -> str:
    mirror = os.environ.get("LIKENESS_WEIGHTS_MIRROR")
    return f"{mirror.rstrip('/')}/{checkpoint.file_name}" if mirror else checkpoint.url


def file_sha256(path: Path) -> str:
    """The file's SHA-256; a file that cannot be read is a ``WeightsError`` saying so."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise _unreadable(path, error) from None


def _unreadable(path: Path, error: OSError) -> WeightsError:
    argument = weights_argument()
    return WeightsError(f"{path}: the checkpoint cannot be read ({error.strerror or error}): "
                        f"make it readable, or pass a readable copy: {argument}")


def _sha256_in_use(path: Path) -> str:
    hasher = weights_hasher()
    if hasher is not None:
        try:
            return hasher(path)
        except StorageError:  # the cache only remembers: its failure is not the file's
            pass
        except OSError as error:
            raise _unreadable(path, error) from None
    return file_sha256(path)


def _recorded_hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


@contextmanager
def _writing_into(folder: Path) -> Iterator[None]:
    """Writing a checkpoint into ``folder``: one that cannot be made or written (a file
    in its place, no permission, a full disk) is one message saying what to do."""
    try:
        yield
    except OSError as error:
        blocked = "; a file, not a folder, is there" if folder.is_file() else ""
        argument = weights_argument()
        free = "free some space, or " if error.errno == errno.ENOSPC else ""
        raise WeightsError(f"cannot write checkpoints into {folder} ({error.strerror or error}"
                           f"{blocked}): {free}set LIKENESS_WEIGHTS_DIR to a folder you can "
                           f"write, or pass the file itself: {argument}") from None


def _how_to_fix(checkpoint: Checkpoint) -> str:
    argument = weights_argument()
    if not source_url(checkpoint):
        return (f"download it from {checkpoint.page} and run `likeness weights import FILE "
                f"--name {checkpoint.name}` (the SHA-256 of the first file imported is "
                f"recorded and checked from then on), or put it in "
                f"{download_dir() / checkpoint.file_name}, or pass the file explicitly: "
                f"{argument.replace('NAME', checkpoint.name)}")
    return (f"download {source_url(checkpoint)} on a machine with internet access and run "
            f"`likeness weights import {checkpoint.file_name}`, or put it in "
            f"{download_dir() / checkpoint.file_name} (expected: {checkpoint.hash_description()})"
            f", or pass the file explicitly: {argument.replace('NAME', checkpoint.name)}")


def verify(checkpoint: Checkpoint, path: Path, *, remembered: bool = False) -> str:
    """Check a file against the checkpoint's published hash; return its SHA-256.

    A checkpoint without a published hash is checked against the SHA-256 recorded beside
    the file at its first verified download or import, if any.  ``remembered``: the file's
    hash may come from the run's cache (``hashing_by``).

    Raises:
        WeightsError: the hash does not match.
    """
    digest = _sha256_in_use(path) if remembered else file_sha256(path)
    if checkpoint.sha256 or checkpoint.sha256_prefix:
        ok, expected = checkpoint.matches(digest), checkpoint.hash_description()
    else:
        recorded_file = _recorded_hash_path(path)
        try:
            recorded = recorded_file.read_text().strip() if recorded_file.is_file() else None
        except OSError as error:
            raise _unreadable(recorded_file, error) from None
        ok = recorded is None or digest == recorded
        expected = f"SHA-256 {recorded} (recorded at its first download or import)"
    if not ok:
        other = next((c for c in published_as(digest) if c is not checkpoint), None)
        cause = (f"it is the published checkpoint of {other.name!r} ({other.file_name}), not "
                 f"of {checkpoint.name!r}, whose file is {checkpoint.file_name}" if other else
                 f"it is {stand_in}" if (stand_in := standing_in(path)) else "the file is "
                 "corrupt or a different release")
        raise WeightsError(f"{path} does not match checkpoint {checkpoint.name!r}: its SHA-256 "
                           f"is {digest}, expected {expected}; {cause} — "
                           f"{_how_to_fix(checkpoint)}")
    return digest


@dataclass(frozen=True)
class ResolvedWeights:
    """A verified local checkpoint file and where it came from."""

    name: str
    path: Path
    sha256: str
    source: str  # "user-supplied", "cache" or "download"


_verified: dict[tuple[str, int, int, int, int, int], str] = {}
_hashed: dict[tuple[str, int, int, int, int, int], str] = {}


def _file_key(path: Path) -> tuple[str, int, int, int, int, int]:
    """What a remembered hash belongs to: the path and the file's stamp — size, mtime,
    ctime (which ``cp -p``, ``rsync -t`` and ``touch -r`` cannot restore), inode, device."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
            stat.st_ino, stat.st_dev)


def _verified_digest(checkpoint: Checkpoint, path: Path) -> str:
    key = _file_key(path)
    if key not in _verified:
        _verified[key] = verify(checkpoint, path, remembered=True)
    return _verified[key]


def _remembered_sha256(path: Path) -> str:
    """A user-supplied file's SHA-256, hashed once per process (by path and stamp: a run
    resolves the same checkpoint several times — cache keys, record, network) and, within
    ``hashing_by``, remembered from run to run."""
    key = _file_key(path)
    if key not in _hashed:
        _hashed[key] = _sha256_in_use(path)
    return _hashed[key]


def resolve(name: str, path: str | os.PathLike[str] | None = None, *,
            progress: ProgressCallback | None = None) -> ResolvedWeights:
    """Find (or fetch) the verified local file of checkpoint ``name``.

    Args:
        name: a registry name (``alexnet``, ``vgg16``, ``vgg19``, ``squeezenet1_1``,
            ``pt_inception``, ``art_inception``).
        path: an explicit file, used as given (not verified against the registry: it may be
            a fine-tuned network); its hash is recorded.
        progress: called with (bytes done, total bytes or None) while downloading.

    Raises:
        WeightsError: the file is missing and cannot be downloaded, or fails verification.
    """
    checkpoint = _checkpoint(name)
    argument = weights_argument("weights=PATH").split("=")[0]
    check_argument_kinds({argument: (path, "a path or None", (*PATH, type(None)))})
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise WeightsError(f"{explicit}: {_not_a_file(explicit)} (given for {name!r})")
        return ResolvedWeights(name, explicit, _remembered_sha256(explicit), "user-supplied")
    for folder in cache_dirs():
        candidate = folder / checkpoint.file_name
        if candidate.is_file():
            return ResolvedWeights(name, candidate, _verified_digest(checkpoint, candidate),
                                   "cache")
    target = download_dir() / checkpoint.file_name
    digest = download(checkpoint, target, progress=progress)
    return ResolvedWeights(name, target, digest, "download")


def download(checkpoint: Checkpoint, target: Path, *,
             progress: ProgressCallback | None = None) -> str:
    """Download a checkpoint to ``target``: temporary file, hash check, atomic rename, lock;
    once in a run (``downloading_once``): a failed download raises its error again.

    Returns:
        The file's SHA-256.

    Raises:
        WeightsError: offline mode, a network failure, an interrupted transfer or a hash
            mismatch; nothing is left at ``target`` then.
    """
    failed = failed_downloads()
    if failed is not None and checkpoint.name in failed:
        raise WeightsError(failed[checkpoint.name])
    if progress is None and (report := download_progress()) is not None:  # a run's bar
        def progress(done: int, total: int | None) -> None:
            report(f"download {checkpoint.file_name}", done, total or 0)
    try:
        return _fetched(checkpoint, target, progress)
    except WeightsError as error:
        if failed is not None:
            failed[checkpoint.name] = str(error)
        raise


def _fetched(checkpoint: Checkpoint, target: Path, progress: ProgressCallback | None) -> str:
    url = source_url(checkpoint)
    if not url:
        raise WeightsError(f"{_not_cached(checkpoint)}, and likeness does not download it: "
                           f"its authors publish it behind a web page; {_how_to_fix(checkpoint)}")
    if switch("LIKENESS_OFFLINE"):
        raise WeightsError(f"{_not_cached(checkpoint)} and LIKENESS_OFFLINE is set, so it is "
                           f"not downloaded from {url}; {_how_to_fix(checkpoint)}")
    if os.path.lexists(target) and not target.is_file():
        raise WeightsError(f"{target}, where checkpoint {checkpoint.name!r} is downloaded to, "
                           f"is in the way ({_not_a_file(target)}): remove it, or "
                           f"{_how_to_fix(checkpoint)}")
    with _writing_into(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        with download_lock(target, waiting=download_progress()):
            if target.is_file():  # another process finished the download while we waited
                return _verified_digest(checkpoint, target)
            from likeness.io.files import new_file_beside  # not at import: PIL and numpy

            handle, temporary = new_file_beside(target, ".part")
            try:
                hasher, done = hashlib.sha256(), 0
                with os.fdopen(handle, "wb") as sink:
                    for block, total in _blocks(url, checkpoint):
                        sink.write(block)  # a full disk: _writing_into's message, not ours
                        hasher.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
                digest = hasher.hexdigest()
                if not checkpoint.matches(digest):
                    page = f" ({done} bytes: {stand_in})" if (stand_in := standing_in(
                        temporary)) else ""
                    raise WeightsError(f"the file downloaded from {url} has SHA-256 {digest}, "
                                       f"expected {checkpoint.hash_description()}{page}; it "
                                       f"was discarded. {_how_to_fix(checkpoint)}")
                os.replace(temporary, target)
                if not (checkpoint.sha256 or checkpoint.sha256_prefix):
                    _recorded_hash_path(target).write_text(digest + "\n")
                return digest
            finally:
                temporary.unlink(missing_ok=True)


def in_the_way(checkpoint: Checkpoint) -> list[str]:
    """What stands in the checkpoint's place in a cache but a file (a folder, a broken link
    to a store not mounted, a FIFO), each as "PATH: what it is"."""
    return [f"{place}: {_not_a_file(place)}" for folder in cache_dirs() if os.path.lexists(
        place := folder / checkpoint.file_name) and not place.is_file()]


def _not_cached(checkpoint: Checkpoint) -> str:
    """"checkpoint … is not in the caches", naming what stands at its place in any."""
    odd = in_the_way(checkpoint)
    return (f"checkpoint {checkpoint.name!r} ({checkpoint.file_name}) is not in "
            f"{' or '.join(str(folder) for folder in cache_dirs())}"
            + (f" ({'; '.join(odd)})" if odd else ""))


def _blocks(url: str, checkpoint: Checkpoint) -> Iterator[tuple[bytes, int | None]]:
    """The download's blocks, each with the length the server announced; the network's
    failures as one ``WeightsError`` (the writer's are the writer's)."""
    try:
        yield from stream(url)
    except TransferFailed as error:
        mirror = (f" from LIKENESS_WEIGHTS_MIRROR (check it, or unset it to fetch "
                  f"{checkpoint.url})" if os.environ.get("LIKENESS_WEIGHTS_MIRROR") else "")
        raise WeightsError(f"downloading {url}{mirror} failed ({error}); try again, or "
                           f"{_how_to_fix(checkpoint)}") from None


def _not_a_file(path: Path) -> str:
    """Why ``path``, which is not a regular file, cannot be a checkpoint."""
    if not os.path.lexists(path):
        return "no such checkpoint file"
    if path.is_dir():
        return "a folder, not a checkpoint file"
    if path.is_symlink() and not path.exists():
        return "a broken link, not a checkpoint file"
    return "not a regular file (a FIFO, socket or device): give the checkpoint file itself"


def import_file(source: str | os.PathLike[str], name: str | None = None) -> ResolvedWeights:
    """Verify a checkpoint obtained elsewhere and copy it into the download folder.

    ``name`` defaults to the registry entry whose published file name equals the file's.

    Raises:
        WeightsError: the name cannot be inferred or the file fails verification.
    """
    source = Path(source).expanduser()
    if not source.is_file():
        raise WeightsError(f"{source}: {_not_a_file(source)}")
    if name is None:
        matches = [c for c in REGISTRY.values() if c.file_name == source.name]
        if not matches:
            raise WeightsError(f"{source.name} is not a published checkpoint file name, so "
                               "say which network it is for: name=NAME, one of "
                               f"{', '.join(REGISTRY)} (the published files: "
                               f"{', '.join(c.file_name for c in REGISTRY.values())})")
        name = matches[0].name
    checkpoint = _checkpoint(name)
    digest = verify(checkpoint, source)
    target = download_dir() / checkpoint.file_name
    from likeness.io.files import new_file_beside  # not at import: PIL and numpy

    with _writing_into(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = new_file_beside(target, ".part")
        try:
            with os.fdopen(handle, "wb") as sink, open(source, "rb") as stream:
                shutil.copyfileobj(stream, sink, 2**20)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        if not (checkpoint.sha256 or checkpoint.sha256_prefix):
            _recorded_hash_path(target).write_text(digest + "\n")
    return ResolvedWeights(name, target, digest, "import")
