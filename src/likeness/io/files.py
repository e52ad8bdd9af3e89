"""Which files are images, and what a path is: special files refused before a read,
folders scanned, paths keyed."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from likeness.arguments import check_paths
from likeness.documents import special_file_kind
from likeness.errors import ImageLoadError, PairingError

# What the loader reads (Pillow's names; JPEG includes multi-picture MPO files), and the
# extensions folder discovery picks up: the same list, so no readable file is skipped unseen.
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP", "GIF", "TGA", "PPM")
IMAGE_EXTENSIONS = frozenset({".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib",
                              ".tif", ".tiff", ".webp", ".gif", ".tga", ".ppm", ".pgm", ".pbm",
                              ".pnm"})




def stat_regular_file(path: Path) -> os.stat_result:
    """The status of ``path`` (links followed) if it is a regular file; else an error that
    says what it is, before a single byte is read (a FIFO or ``/dev/zero`` would hang or
    never end).

    Raises:
        ImageLoadError: missing, a broken link, a link loop, a folder, FIFO, device, socket.
    """
    try:
        status = os.stat(path)
    except ValueError:  # a NUL byte in the name (from a CSV, say): no file has it
        raise ImageLoadError(f"{str(path)!r}: the path contains a NUL byte") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImageLoadError(f"{path}: a symbolic link loop, not a file") from None
        if error.errno == errno.ENOENT and os.path.lexists(path):
            raise ImageLoadError(f"{path}: a broken symbolic link (to "
                                 f"{os.readlink(path)})") from None
        if error.errno == errno.ENOENT:
            raise ImageLoadError(f"{path}: no such file{_missing_hint(path)}") from None
        raise ImageLoadError(f"{path}: cannot read the file ({error.strerror or error})"
                             ) from None
    if (kind := special_file_kind(status.st_mode)) is not None:
        raise ImageLoadError(f"{path}: {kind}, not a regular file; likeness reads only "
                             "regular files")
    return status


_URL_SCHEMES = ("http:", "https:", "ftp:", "file:", "s3:", "gs:", "gcs:", "az:", "abfs:",
                "abfss:", "hf:", "wasb:", "wasbs:")


def _missing_hint(path: str | os.PathLike[str]) -> str:
    """What a missing path may have meant, where its spelling says: a URL (``https://…``,
    ``s3://…``: likeness reads local files), a home folder (``~`` is expanded by a shell,
    not in a CSV or a Python string) or Windows' separators (a CSV written on Windows:
    ``imgs\\a.png``; here a backslash is a letter of the name, never a separator)."""
    parts = Path(path).parts
    if any(part.lower() in _URL_SCHEMES for part in parts):
        return (" (a URL? likeness reads local files only: download the images first, "
                "and give their paths)")
    if "~" in parts or any(part.startswith("~") and part[1:].isidentifier() for part in parts):
        return (" ('~' is a folder's name here: a shell expands it, a CSV or a Python string "
                "does not; write the whole path)")
    if os.sep != "/" or "\\" not in os.fspath(path):
        return ""
    return (" (its name holds '\\', a Windows separator?  Here it is a letter of the name: "
            "write the path with '/')")


def scan_folder(folder: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """The image files below ``folder`` (recursive, links to folders followed), and what
    the scan left out there: hidden files and folders (a name starting with ``.``; a hidden
    folder is not walked into) and files of a format likeness does not read (by their
    extension); both sorted.  ``describe_skipped`` says which is which.

    Raises:
        PairingError: a folder below cannot be read, or is reached twice (a link to a folder
            already scanned, or a loop of links): its images would be missing, or counted
            twice.
    """
    folder = Path(folder)
    found: list[Path] = []
    skipped: list[Path] = []
    reached: dict[str, Path] = {}

    for root, real, dirs, files in _walk(os.fspath(folder)):
        if real in reached:
            raise PairingError(f"{root} is {reached[real]} again, through a link: its images "
                               "would count twice (in a loop of links, without end); remove "
                               "the link")
        reached[real] = Path(root)
        if "images" in dirs and "study.json" in files and "admin-token" in files:
            raise PairingError(f"{root} holds a likeness study, whose images are copies of "
                               f"the compared folders' and would count as {folder}'s: move "
                               f"it out of {folder}")
        skipped.extend(Path(root) / name for name in dirs if name.startswith("."))
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in files:
            path = Path(root) / name
            readable = not name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
            (found if readable else skipped).append(path)
    return sorted(found), sorted(skipped)


def _walk(top: str) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """``os.walk(top, followlinks=True)``, top-down, without recursion (Python 3.11's
    recurses once a level: a tree ~1,000 levels deep was a RecursionError), each folder
    with its real path: its parent's with its name unless it is a link (``realpath`` of
    each took a system call a part of its path: 17 s for a tree 1,100 folders deep).
    The walk continues into the ``dirs`` the caller keeps.

    Raises:
        PairingError: a folder cannot be read (its images would be left out).
    """
    stack = [(top, os.path.realpath(top))]
    while stack:
        root, real = stack.pop()
        dirs: list[str] = []
        files: list[str] = []
        links: set[str] = set()
        try:
            with os.scandir(root) as entries:
                for entry in entries:
                    try:
                        is_folder = entry.is_dir()  # (links followed)
                    except OSError:
                        is_folder = False
                    (dirs if is_folder else files).append(entry.name)
                    if is_folder and _is_link(entry):
                        links.add(entry.name)
        except OSError as error:
            raise PairingError(f"{error.filename or root}: this folder cannot be read "
                               f"({error.strerror or error}); its images would be left "
                               "out") from None
        yield root, real, dirs, files
        for name in reversed(dirs):
            path = os.path.join(root, name)
            stack.append((path, os.path.realpath(path) if name in links
                          else os.path.join(real, name)))


def _is_link(entry: os.DirEntry[str]) -> bool:
    """Whether an entry is a link (where the system cannot tell: taken as one)."""
    try:
        return entry.is_symlink()
    except OSError:
        return True


def split_skipped(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a scan left out (``scan_folder``'s second list, as names relative to the
    folder), in two: the hidden entries, and the files not in an image format likeness
    reads."""
    hidden: list[str] = []
    others: list[str] = []
    for name in names:
        is_hidden = any(part.startswith(".") for part in name.split("/"))
        (hidden if is_hidden else others).append(name)
    return hidden, others


def describe_skipped(names: Iterable[str], shown: int = 3) -> str:
    """What a scan left out, for a message: ``"2 hidden (.DS_Store, .cache) and 1 not in
    an image format likeness reads (a.heic)"``, the first ``shown`` of each kind named."""
    def listed(group: list[str]) -> str:
        more = len(group) - shown
        return ", ".join(group[:shown]) + (f" and {more} more" if more > 0 else "")

    hidden, others = split_skipped(names)
    parts = []
    if hidden:
        parts.append(f"{len(hidden)} hidden ({listed(hidden)})")
    if others:
        parts.append(f"{len(others)} not in an image format likeness reads ({listed(others)})")
    return " and ".join(parts)


def resolved_paths(files: Iterable[Path]) -> dict[Path, str]:
    """Each file's real path (``same_file_key``), each folder's resolved once: a link to
    a file resolved on its own (``os.path.realpath`` of every file would cost a system call
    per part of its path)."""
    folders: dict[str, str] = {}
    return {path: same_file_key(path, folders) for path in files}


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file below ``folder`` (recursive, hidden files and folders skipped),
    sorted; ``scan_folder`` also says what was left out."""
    check_paths(folder=folder)
    return scan_folder(folder)[0]


def path_key(path: str | os.PathLike[str]) -> str:
    """A text key for a path that SQLite and UTF-8 files can hold: the path itself, or, for
    a name that is not valid UTF-8 (bytes a filesystem allows), its bytes in hex."""
    raw = os.fsencode(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + raw.hex()


def same_file_key(path: Path, folders: dict[str, str] | None = None) -> str:
    """What identifies a file however its path is spelt (``./a``, ``x/../a``, links): its
    real path; with ``folders`` (folders' real paths, filled as met), its folder's real
    path with its name unless it is a link (``resolved_paths``)."""
    try:
        text = os.fspath(path)
        parent, name = os.path.split(text)
        if folders is None or name in ("", ".", "..") or os.path.islink(text):
            return os.path.realpath(text)
        if parent not in folders:
            folders[parent] = os.path.realpath(parent)
        return os.path.join(folders[parent], name)
    except (ValueError, OSError):  # a NUL byte or a link loop: the spelling, normalised
        return os.path.normpath(os.path.abspath(path))


FileStamp = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device


def file_stamp(status: os.stat_result) -> FileStamp:
    """What changes whenever a file's bytes do (its status-change time on every write, and
    no one can set it back)."""
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino,
            status.st_dev)


class Digests(dict[Path, str]):
    """Files' content hashes by path (a dict), and ``settled``: the stamp each file had when
    it was hashed, for the files whose last change lies clearly before their hashing (the
    cache's racy window).  Bytes read while such a file keeps that stamp are the bytes
    hashed, as surely as the cache trusts a hash it remembers from run to run: the decoders
    read them without hashing them again (``load_image``'s ``hashed_stamp``)."""

    def __init__(self) -> None:
        super().__init__()
        self.settled: dict[Path, FileStamp] = {}


def settled_stamps(digests: object) -> dict[Path, FileStamp]:
    """The settled stamps ``digests`` carries (``Digests``), or none."""
    return digests.settled if isinstance(digests, Digests) else {}


def read_as_hashed(path: Path, expect_sha256: str | None = None,
                   hashed_stamp: FileStamp | None = None) -> bytes:
    """A file's bytes, read once: every check and the decoding see the bytes whose hash
    is known (``load_image``).

    Raises:
        ImageLoadError: the file cannot be read, or its bytes are no longer those hashed:
            their SHA-256 is not ``expect_sha256`` — not hashed again when the file kept,
            from before its bytes were read to after, the settled stamp it was hashed at
            (``hashed_stamp``, ``Digests``).
    """
    try:
        with open(path, "rb") as handle:
            stamp = file_stamp(os.fstat(handle.fileno()))
            data = handle.read()
            as_hashed = stamp == hashed_stamp == file_stamp(os.fstat(handle.fileno()))
    except OSError as error:
        raise ImageLoadError(unreadable(path, error)) from None
    if (expect_sha256 is not None and not as_hashed
            and hashlib.sha256(data).hexdigest() != expect_sha256):
        raise ImageLoadError(f"{path}: the file changed during the run (its bytes are no "
                             "longer those hashed at its start); run again once it is "
                             "written")
    return data


def content_hash(key: str | None) -> str | None:
    """The SHA-256 a file key of a run holds (None for a path-and-stamp key, ``file:…``,
    which a run that keeps nothing uses)."""
    return key if key is not None and len(key) == 64 and ":" not in key else None


def unreadable(path: Path, error: Exception) -> str:
    """Why ``path`` could not be read, as one message: likeness's own words, or the
    system's reason ("PATH: cannot be read (Permission denied)", not Python's "[Errno 13]
    Permission denied: 'PATH'")."""
    if isinstance(error, OSError) and error.strerror:
        return f"{path}: cannot be read ({error.strerror})"
    return str(error)


NEARLY_FULL = 1 << 20  # bytes left under which a failed write is put down to a full disk


def disk_is_full(folder: Path) -> str:
    """"; its disk is full (N KiB free)" when ``folder``'s disk has under ``NEARLY_FULL``
    bytes left for an unprivileged writer, else "": SQLite says only "disk I/O error" when
    its WAL index cannot grow on a full disk."""
    try:
        status = os.statvfs(folder)
    except (OSError, AttributeError):  # a missing folder; Windows has no statvfs
        return ""
    free = status.f_bavail * status.f_frsize
    return f"; its disk is full ({free // 1024} KiB free)" if free < NEARLY_FULL else ""


def new_file_beside(target: Path, suffix: str, mode: int = 0o666) -> tuple[int, Path]:
    """A new, empty file beside ``target`` under a random hidden name: (descriptor, path).
    Created exclusively (``O_EXCL``, so a link planted under that name is not followed),
    with ``mode`` as the process's umask allows — as any file the user creates, where
    ``tempfile.mkstemp`` makes every file readable by its owner only (a results folder a
    group or a web server could not read).

    Raises:
        OSError: the folder cannot be written (the caller names the path to the user).
    """
    flags = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    for _ in range(100):
        path = target.parent / f".{target.name}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target.parent))


@contextmanager
def replacing(path: str | os.PathLike[str], *, mode: int = 0o666) -> Iterator[BinaryIO]:
    """A binary stream whose bytes replace ``path`` atomically when the block ends without
    an error, never through a link: written into a new file beside it
    (``new_file_beside``: ``mode`` as the umask allows), then renamed over ``path`` (which
    replaces a link at ``path``, not its target).  On an error ``path`` is left as it was.

    Raises:
        OSError: the folder cannot be written (the caller names the path to the user).
    """
    target = Path(path)
    handle, temporary = new_file_beside(target, ".tmp", mode)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def escaped_text(value: Any) -> Any:
    """``value`` (text, or the lists and dicts of a JSON document) with each byte of a file
    name that is not UTF-8 (Python decodes it as a lone surrogate) written as an escape,
    ``\\udcff``: as every file likeness writes shows such a name, so that a database or
    another file given the text never meets a character UTF-8 cannot encode."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [escaped_text(part) for part in value]
    if isinstance(value, dict):
        return {escaped_text(key): escaped_text(part) for key, part in value.items()}
    return value


def escaped_path(folder: Path, name: str) -> Path:
    """The file ``folder / name`` where ``name`` was written escaped (``escaped_text``):
    the name as written if such a file exists, else with its escapes of bytes that are not
    UTF-8 (``\\udcff``) turned back into those bytes."""
    path = folder / name
    if "\\udc" not in name or path.exists():
        return path
    return folder / re.sub(r"\\u(dc[89a-f][0-9a-f])", lambda m: chr(int(m.group(1), 16)),
                           name)


def replace_file(path: str | os.PathLike[str], text: str, *,
                 errors: str = "backslashreplace", mode: int = 0o666) -> None:
    """Write ``text`` (UTF-8; a byte of a name that is not UTF-8 as an escape, ``\\udcff``)
    to ``path`` atomically, never through a link (``replacing``).

    Raises:
        OSError: the folder cannot be written (the caller names the path to the user).
    """
    data = text.encode("utf-8", errors=errors)
    with replacing(path, mode=mode) as stream:
        stream.write(data)
