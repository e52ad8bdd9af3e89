"""Where a study's answers live: SQLite in the study folder (the default; WAL, every answer
committed before it is acknowledged) or PostgreSQL (a database URL, for a study served by
several servers at once; needs ``psycopg``).

An answer is a participant's choice on one trial number ("left" or "right" on a pair, the
positions best first on a ranking: ``design.Trial``), with what it chose (the model, or the
ranking of the models) and the response time.  ``record`` is the one write path: it accepts a
participant's next trial only, so no trial is skipped, answered twice or answered out of
order, whatever the requests; giving the same answer again (a double click, a retried
request) is acknowledged without a second row.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likeness.errors import LikenessError, StorageError
from likeness.io import disk_is_full

__all__ = ["Answer", "AnswerStore", "open_store"]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS study (study_id TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS participants (number {serial}, token TEXT UNIQUE NOT NULL, "
    "source TEXT NOT NULL, started TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS answers (participant INTEGER NOT NULL REFERENCES "
    "participants(number), trial INTEGER NOT NULL, choice TEXT NOT NULL, "
    "chosen TEXT NOT NULL, rt_ms INTEGER, answered TEXT NOT NULL, "
    "PRIMARY KEY (participant, trial))",
)


@dataclass(frozen=True)
class Answer:
    participant: int  # from 1, in order of arrival
    source: str  # "web" or "offline:<file's participant id>"
    trial: int
    choice: str
    chosen: str  # the model chosen, or the ranking best>…>worst
    rt_ms: int | None
    answered: str


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class AnswerStore:
    """A study's answers in SQLite or PostgreSQL (see the module docs)."""

    def __init__(self, connect: Any, placeholder: str, serial: str, lock_row: str,
                 begin: str, lock_schema: str, errors: tuple[type[Exception], ...],
                 where: str, folder: Path | None = None) -> None:
        self._connect, self._placeholder, self._lock_row = connect, placeholder, lock_row
        self.where, self._folder = where, folder  # for messages: the database, its folder
        self._begin, self._lock_schema = begin, lock_schema
        self._local = threading.local()
        self._opened: list[Any] = []  # every thread's connection, closed by ``close``
        self._opened_lock = threading.Lock()
        self._serial = serial
        self.errors = errors  # the database's own exceptions

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _sql(self, text: str) -> str:
        return text.replace("?", self._placeholder)

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Any]:
        """A transaction: SQLite's writers take the lock at once (``BEGIN IMMEDIATE``), so
        that two writers never both read before either writes; readers do not wait.

        Raises:
            StorageError: the database failed (a full disk, a lost connection); the
                thread's connection is dropped, so the next transaction opens a new one.
        """
        connection = None
        try:
            connection = self._connection()
            cursor = connection.cursor()
            try:
                if self._begin:
                    cursor.execute(self._begin if write else "BEGIN")
                yield cursor
                connection.commit()
            finally:
                with suppress(*self.errors):
                    cursor.close()
        except self.errors as error:
            if connection is not None:
                self._drop(connection)
            raise self._failed(error) from None
        except BaseException:
            if connection is not None:
                with suppress(*self.errors):
                    connection.rollback()
            raise

    def _drop(self, connection: Any) -> None:
        with suppress(*self.errors):
            connection.rollback()
        with suppress(*self.errors):
            connection.close()
        with self._opened_lock:
            self._opened = [c for c in self._opened if c is not connection]
        self._local.connection = None

    def _failed(self, error: Exception) -> StorageError:
        message = " ".join(str(error).split())  # PostgreSQL's messages span lines
        if self._folder is not None and "full" not in message and "locked" not in message:
            message += disk_is_full(self._folder)
        if "full" in message:
            advice = "free some space on its disk"
        elif "readonly" in message or "unable to open" in message:
            advice = ("it or its folder is not writable for you, and SQLite writes beside a "
                      "database even to read it: run as the study's owner, or copy the study "
                      "folder")
        else:
            advice = "check the database and the disk it is on"
        return StorageError(f"the answers database {self.where} failed ({message}): {advice}; "
                            "every answer acknowledged so far is kept")

    def initialise(self, study_id: str) -> None:
        """Create the tables; refuse a database that holds another study's answers."""
        with self._transaction(write=True) as cursor:
            if self._lock_schema:  # two servers starting at once create the tables once
                cursor.execute(self._lock_schema)
            for statement in SCHEMA:
                cursor.execute(statement.format(serial=self._serial))
            cursor.execute("SELECT study_id FROM study")
            found = cursor.fetchone()
            if found is None:
                cursor.execute(self._sql("INSERT INTO study (study_id) VALUES (?)"),
                               (study_id,))
            elif found[0] != study_id:
                raise LikenessError(f"the database holds the answers of another study "
                                    f"({found[0]}, this one is {study_id}): give each study "
                                    "its own database")

    def add_participant(self, token: str, source: str = "web",
                        limit: int | None = None) -> int | None:
        """A new participant's number (1, 2, … in order of arrival); None when ``limit``
        participants have started already (checked in the same transaction)."""
        with self._transaction(write=True) as cursor:
            if limit is not None:
                if self._lock_schema:  # PostgreSQL: one new participant at a time
                    cursor.execute(self._lock_schema)
                cursor.execute("SELECT COUNT(*) FROM participants")
                if int(cursor.fetchone()[0]) >= limit:
                    return None
            cursor.execute(self._sql("INSERT INTO participants (token, source, started) "
                                     "VALUES (?, ?, ?)"), (token, source, _now()))
            cursor.execute(self._sql("SELECT number FROM participants WHERE token = ?"),
                           (token,))
            return int(cursor.fetchone()[0])

    def participant(self, token: str) -> int | None:
        with self._transaction() as cursor:
            cursor.execute(self._sql("SELECT number FROM participants WHERE token = ?"),
                           (token,))
            found = cursor.fetchone()
            return None if found is None else int(found[0])

    def answered(self, participant: int) -> int:
        """How many trials ``participant`` has answered (the next trial's number)."""
        with self._transaction() as cursor:
            cursor.execute(self._sql("SELECT COUNT(*) FROM answers WHERE participant = ?"),
                           (participant,))
            return int(cursor.fetchone()[0])

    def record(self, participant: int, trial: int, choice: str, chosen: str,
               rt_ms: int | None) -> str:
        """Store an answer: "recorded"; "repeated" (the same answer was stored already:
        nothing written); "conflict" (this trial has another answer); "not next" (the
        participant's next trial is another one)."""
        with self._transaction(write=True) as cursor:
            if self._lock_row:
                cursor.execute(self._sql(self._lock_row), (participant,))
            cursor.execute(self._sql("SELECT choice FROM answers WHERE participant = ? AND "
                                     "trial = ?"), (participant, trial))
            found = cursor.fetchone()
            if found is not None:
                return "repeated" if found[0] == choice else "conflict"
            cursor.execute(self._sql("SELECT COUNT(*) FROM answers WHERE participant = ?"),
                           (participant,))
            if int(cursor.fetchone()[0]) != trial:
                return "not next"
            cursor.execute(self._sql("INSERT INTO answers (participant, trial, choice, "
                                     "chosen, rt_ms, answered) VALUES (?, ?, ?, ?, ?, ?)"),
                           (participant, trial, choice, chosen, rt_ms, _now()))
            return "recorded"

    def answers(self) -> list[Answer]:
        """Every answer, by participant and trial."""
        with self._transaction() as cursor:
            cursor.execute("SELECT a.participant, p.source, a.trial, a.choice, a.chosen, "
                           "a.rt_ms, a.answered FROM answers a JOIN participants p ON "
                           "p.number = a.participant ORDER BY a.participant, a.trial")
            return [Answer(int(r[0]), r[1], int(r[2]), r[3], r[4],
                           None if r[5] is None else int(r[5]), r[6])
                    for r in cursor.fetchall()]

    def participants(self) -> list[tuple[int, str, str, int]]:
        """(number, source, started, answers) of every participant."""
        with self._transaction() as cursor:
            cursor.execute("SELECT p.number, p.source, p.started, COUNT(a.trial) FROM "
                           "participants p LEFT JOIN answers a ON a.participant = p.number "
                           "GROUP BY p.number, p.source, p.started ORDER BY p.number")
            return [(int(r[0]), r[1], r[2], int(r[3])) for r in cursor.fetchall()]

    def tokens(self) -> dict[int, str]:
        """Every participant's token (for their completion codes on the admin page)."""
        with self._transaction() as cursor:
            cursor.execute("SELECT number, token FROM participants")
            return {int(r[0]): r[1] for r in cursor.fetchall()}

    def close(self) -> None:
        """Close the connections of every thread (the store cannot be used after)."""
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()
        self._local = threading.local()


def _sqlite(path: Path) -> AnswerStore:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")  # an acknowledged answer survives
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    return AnswerStore(connect, "?", "INTEGER PRIMARY KEY AUTOINCREMENT", "",
                       "BEGIN IMMEDIATE", "", (sqlite3.Error,), str(path), path.parent)


# libpq waits for ever by default for a server that accepts the connection and says
# nothing, or stops answering: a connection must open within 10 s, and a peer silent for
# about a minute is dead (TCP keepalives); a URL's own values of these win
_POSTGRES_BOUNDS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
                    "keepalives_interval": 10, "keepalives_count": 3}


def _postgres(url: str) -> AnswerStore:
    try:
        import psycopg
    except ImportError:
        raise LikenessError("a PostgreSQL database needs psycopg: pip install "
                            "'likeness-metrics[postgres]'") from None

    def connect() -> Any:
        try:
            given = psycopg.conninfo.conninfo_to_dict(url)
            return psycopg.connect(psycopg.conninfo.make_conninfo(url, **{
                name: value for name, value in _POSTGRES_BOUNDS.items() if name not in given}),
                autocommit=False)
        except psycopg.Error as error:
            said = " ".join(str(error).split())  # psycopg's lines, as one
            raise StorageError(f"cannot connect to the database: {said}; check the URL "
                               "(database=URL)") from None

    return AnswerStore(connect, "%s", "SERIAL PRIMARY KEY",
                       "SELECT number FROM participants WHERE number = ? FOR UPDATE", "",
                       "SELECT pg_advisory_xact_lock(72540)", (psycopg.Error,),
                       url.split("@")[-1])  # the host and database, not the password


def open_store(study_folder: Path, study_id: str, database: str | None = None) -> AnswerStore:
    """The answers of the study in ``study_folder``: its SQLite file, or ``database``
    (``postgresql://…``), checked to belong to ``study_id``.

    Raises:
        LikenessError: an unsupported URL, or a database of another study.
        StorageError: the database cannot be opened.
    """
    if database is None:
        store = _sqlite(study_folder / "answers.sqlite")
    elif database.startswith(("postgresql://", "postgres://")):
        store = _postgres(database)
    else:
        raise LikenessError(f"database {database!r}: give a postgresql:// URL (the default "
                            "is the SQLite file in the study folder)")
    try:
        store.initialise(study_id)
    except LikenessError:
        store.close()
        raise
    return store
