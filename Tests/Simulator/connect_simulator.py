#!/usr/bin/env python3
"""A small stand-in for Posit Connect, for lockstep's tests.

It has Connect's shape where a backup tool can tell: a data directory holding a key file
(`db/secret.key`), a database (`db/connect.db`, SQLite in WAL mode) whose rows reference bundle
files under `apps/`, and logs. While it runs it keeps writing bundle files and the rows that
reference them, and sometimes deletes an old bundle, so a copy taken while it runs is likely to
be inconsistent and a copy taken in a stop window never is. Like Connect, it refuses to start
when the key file is not mode 0600 or does not match the fingerprint stored in its database
("secret key mismatch").

Standard library only (Python 3.11). Commands (DIR is the data directory):

    init   --data DIR [--provider sqlite|postgres --db-url URL]
                                       create the layout, key, database and a few seed apps
    start  --data DIR [--interval-ms N] [--max-bundles N] [--timeout S]
                                       check the key, daemonize, return once the daemon runs
                                       (already running: exit 0, nothing started)
    stop   --data DIR [--wait] [--timeout S]
                                       send SIGTERM to the daemon (does not wait unless --wait)
    status --data DIR                  exit 0 when the daemon runs, 3 otherwise
    check  --data DIR                  consistency check of a (restored) data directory

Exit codes: 0 success / running / consistent; 1 refused, failed or inconsistent; 2 usage;
3 (status only) not running.

Files under DIR:

    db/secret.key          32 random bytes, mode 0600
    db/connect.db          SQLite database (+ -wal/-shm while running)
    apps/<app>/<bundle>/bundle.tar.gz
                           bundle files, each referenced by one `bundles` row
    logs/connect.log       one line per step of the daemon
    logs/simulator.log     the daemon's stdout/stderr (tracebacks if it dies)
    simulator.pid          the daemon's pid, present only while it runs

Whether the daemon runs is decided by an exclusive flock(2) on DIR itself, which the daemon
holds for its whole life and releases last (after closing the database and removing the pid
file): a stale pid file, a reused pid or a zombie can never make `status` say "running", and
two daemons can never run on one directory. The daemon exits by itself (saying why in
logs/simulator.log) when its data directory or database is removed or replaced under it, so a
test that forgets `stop` does not leave it running past its temporary directory.

The database access is behind the `Store` class: `sqlite` (db/connect.db, the default) or
`postgres` (`init --provider postgres --db-url URL`, recorded in DIR/simulator.json; same schema,
same key/fingerprint rule, bundle files still under DIR/apps; needs Debian's python3-psycopg2,
so run it with /usr/bin/python3). `check --provider postgres --db-url URL` checks a restored
directory against another database (a restored dump).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import fcntl
import hashlib
import io
import json
import os
import random
import resource
import select
import shutil
import signal
import sqlite3
import stat
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

PROG = "connect_simulator"

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3

KEY_RELPATH = "db/secret.key"
DB_RELPATH = "db/connect.db"
PID_RELPATH = "simulator.pid"
CONFIG_RELPATH = "simulator.json"
APPS_RELPATH = "apps"
CONNECT_LOG_RELPATH = "logs/connect.log"
DAEMON_LOG_RELPATH = "logs/simulator.log"
BUNDLE_NAME = "bundle.tar.gz"

SCHEMA_VERSION = "1"
SEED_APPS = ["sales-dashboard", "forecast-api", "weekly-report"]

# Portable SQL: plain types, no AUTOINCREMENT, no circular foreign keys (apps.bundle_id is
# checked by `check` instead), ids allocated from meta.next_bundle_id, so the same statements
# serve a PostgreSQL provider with only the placeholder style changed.
SCHEMA = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE apps (id INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    " bundle_id INTEGER, created_at TEXT NOT NULL)",
    "CREATE TABLE bundles (id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL REFERENCES apps(id),"
    " path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    " created_at TEXT NOT NULL)",
    "CREATE INDEX bundles_app ON bundles(app_id)",
]


class SimulatorError(Exception):
    """A refusal or failure reported on stderr with exit 1."""


# --------------------------------------------------------------------------------------------
# Small helpers


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, base: Path, mode: int = 0o644) -> None:
    """Create `path` (must not exist) with `data`, fsync it and the directories created for it.
    Directories are created below `base` only, which must exist (so a daemon whose data
    directory was removed fails instead of recreating it)."""
    created = []
    parent = path.parent
    while not parent.exists():
        if parent == base or base not in parent.parents:
            raise SimulatorError(f"{base}: directory missing")
        created.append(parent)
        parent = parent.parent
    for directory in reversed(created):
        os.mkdir(directory)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    for directory in created:
        fsync_dir(directory.parent)


def make_bundle(rng: random.Random, app_id: int, bundle_id: int) -> bytes:
    """A real tar.gz of a few KB: a manifest and an incompressible payload."""
    manifest = json.dumps({"app_id": app_id, "bundle_id": bundle_id, "created": now()}).encode()
    payload = rng.randbytes(rng.randint(1024, 6 * 1024))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in (("manifest.json", manifest), ("data.bin", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = int(time.time())
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class DataDir:
    def __init__(self, root: str, provider: str | None = None, db_url: str | None = None):
        self.root = Path(os.path.abspath(root))
        # The provider and PostgreSQL URL chosen at `init` (DIR/simulator.json), unless given.
        self.config = self.root / CONFIG_RELPATH
        saved = {}
        try:
            saved = json.loads(self.config.read_text())
        except (FileNotFoundError, ValueError):
            pass
        self.provider = provider or saved.get("provider", "sqlite")
        self.db_url = db_url or saved.get("url")
        if self.provider == "postgres" and not self.db_url:
            raise SimulatorError("the postgres provider needs --db-url (or an init that recorded one)")
        self.key = self.root / KEY_RELPATH
        self.db = self.root / DB_RELPATH
        self.pid = self.root / PID_RELPATH
        self.apps = self.root / APPS_RELPATH
        self.connect_log = self.root / CONNECT_LOG_RELPATH
        self.daemon_log = self.root / DAEMON_LOG_RELPATH

    def bundle_relpath(self, app_id: int, bundle_id: int) -> str:
        return f"{APPS_RELPATH}/{app_id}/{bundle_id}/{BUNDLE_NAME}"


# --------------------------------------------------------------------------------------------
# The key file


def read_key(data: DataDir) -> bytes:
    """The key's bytes, or SimulatorError when missing or not mode 0600 (as Connect refuses)."""
    try:
        info = os.stat(data.key)
    except FileNotFoundError:
        raise SimulatorError(f"{data.key}: key file missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise SimulatorError(f"{data.key}: key file is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode != 0o600:
        raise SimulatorError(f"{data.key}: key file has mode {mode:04o}; it must be 0600")
    with open(data.key, "rb") as handle:
        return handle.read()


def key_fingerprint(key: bytes) -> str:
    return sha256_bytes(key)


def check_fingerprint(data: DataDir, key: bytes, stored: str | None) -> None:
    if stored is None:
        raise SimulatorError(f"{data.db}: no key fingerprint stored in the database (meta.key_fingerprint)")
    if stored != key_fingerprint(key):
        raise SimulatorError(
            f"secret key mismatch: {data.key} (sha256 {key_fingerprint(key)[:16]}...) does not match "
            f"the database's key fingerprint ({stored[:16]}...)"
        )


# --------------------------------------------------------------------------------------------
# The database


class Store:
    """Database access for one data directory. The SQLite provider; a PostgreSQL provider would
    implement the same methods (connect through `psql`, same schema and statements)."""

    provider = "sqlite"

    def execute(self, sql: str, params: tuple = ()):
        """Runs one statement; the result iterates rows and has fetchone/fetchall."""
        return self.conn.execute(sql, params)

    def __init__(self, path: Path, create: bool = False):
        if not create and not path.exists():
            raise SimulatorError(f"{path}: database missing")
        # isolation_level=None: autocommit; transactions are explicit BEGIN IMMEDIATE/COMMIT.
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.pending_files = []
        self.execute("PRAGMA journal_mode=WAL")
        self.execute("PRAGMA synchronous=FULL")
        self.execute("PRAGMA foreign_keys=ON")

    # transactions
    # Bundle files written in the current transaction: removed again if it rolls back.
    pending_files: list[Path]

    def begin(self) -> None:
        self.pending_files = []
        self.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.execute("COMMIT")
        self.pending_files = []

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.execute("ROLLBACK")
        for path in self.pending_files:
            path.unlink(missing_ok=True)
        self.pending_files = []

    def close(self) -> None:
        """Checkpoint the WAL into the database and close (the -wal/-shm files go away)."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()

    # schema and meta
    def has_schema(self) -> bool:
        row = self.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        return row[0] == 1

    def create_schema(self, fingerprint: str) -> None:
        self.begin()
        try:
            for statement in SCHEMA:
                self.execute(statement)
            for key, value in (("schema_version", SCHEMA_VERSION), ("key_fingerprint", fingerprint),
                               ("next_bundle_id", "1"), ("next_app_id", "1"), ("created_at", now())):
                self.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def allocate(self, counter: str) -> int:
        """Next id from a meta counter; call inside a transaction."""
        value = int(self.meta(counter) or "1")
        self.execute("UPDATE meta SET value = ? WHERE key = ?", (str(value + 1), counter))
        return value

    # apps and bundles
    def app_ids(self) -> list[int]:
        return [row[0] for row in self.execute("SELECT id FROM apps ORDER BY id")]

    def insert_app(self, name: str) -> int:
        app_id = self.allocate("next_app_id")
        guid = sha256_bytes(os.urandom(16))[:32]
        guid = f"{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:32]}"
        self.execute("INSERT INTO apps(id, guid, name, bundle_id, created_at) VALUES (?, ?, ?, NULL, ?)",
                          (app_id, guid, name, now()))
        return app_id

    def insert_bundle(self, bundle_id: int, app_id: int, path: str, digest: str, size: int) -> None:
        self.execute("INSERT INTO bundles(id, app_id, path, sha256, size, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                          (bundle_id, app_id, path, digest, size, now()))
        self.execute("UPDATE apps SET bundle_id = ? WHERE id = ?", (bundle_id, app_id))

    def bundle_count(self) -> int:
        return self.execute("SELECT count(*) FROM bundles").fetchone()[0]

    def oldest_inactive_bundle(self, rng: random.Random) -> tuple[int, str] | None:
        """One of the five oldest bundles that are not their app's active bundle."""
        rows = self.execute(
            "SELECT b.id, b.path FROM bundles b JOIN apps a ON a.id = b.app_id"
            " WHERE a.bundle_id IS NULL OR b.id <> a.bundle_id ORDER BY b.id LIMIT 20").fetchall()
        return rng.choice(rows[:5]) if rows else None

    def delete_bundle(self, bundle_id: int) -> None:
        self.execute("DELETE FROM bundles WHERE id = ?", (bundle_id,))

    def all_bundles(self) -> list[tuple[int, int, str, str, int]]:
        return self.execute("SELECT id, app_id, path, sha256, size FROM bundles ORDER BY id").fetchall()

    def all_apps(self) -> list[tuple[int, str, int | None]]:
        return self.execute("SELECT id, name, bundle_id FROM apps ORDER BY id").fetchall()

    def integrity_problems(self) -> list[str]:
        problems = []
        rows = [row[0] for row in self.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            problems += [f"integrity_check: {row}" for row in rows]
        for table, rowid, parent, _ in self.execute("PRAGMA foreign_key_check"):
            problems.append(f"foreign_key_check: {table} row {rowid} references a missing {parent} row")
        return problems


class PgStore(Store):
    """The PostgreSQL provider: the same schema and statements through psycopg2 (Debian's
    python3-psycopg2, so run the simulator with /usr/bin/python3), the URL from
    DIR/simulator.json or --db-url."""

    provider = "postgres"

    def __init__(self, url: str):
        import psycopg2  # only the postgres provider needs it
        self.error_types = (psycopg2.Error,)
        try:
            self.conn = psycopg2.connect(url)
        except psycopg2.Error as error:
            raise SimulatorError(f"cannot connect to PostgreSQL: {str(error).strip().splitlines()[0]}") from None
        self.conn.autocommit = True
        self.active = False
        self.pending_files = []

    def execute(self, sql: str, params: tuple = ()):
        cursor = self.conn.cursor()
        cursor.execute(sql.replace("?", "%s"), params)
        return cursor

    def begin(self) -> None:
        self.pending_files = []
        self.execute("BEGIN")
        self.active = True

    def commit(self) -> None:
        self.execute("COMMIT")
        self.active = False
        self.pending_files = []

    def rollback(self) -> None:
        if self.active:
            self.execute("ROLLBACK")
            self.active = False
        for path in self.pending_files:
            path.unlink(missing_ok=True)
        self.pending_files = []

    def close(self) -> None:
        self.conn.close()

    def has_schema(self) -> bool:
        row = self.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'meta'").fetchone()
        return row[0] == 1

    def integrity_problems(self) -> list[str]:
        problems = []
        for bundle_id, app_id in self.execute("SELECT b.id, b.app_id FROM bundles b LEFT JOIN apps a ON a.id = b.app_id WHERE a.id IS NULL"):
            problems.append(f"bundle {bundle_id} references a missing app {app_id}")
        return problems


def open_store(data: DataDir, key: bytes, create_if_missing: bool, seed: bool) -> Store:
    """Open the database, creating it (schema + fingerprint [+ seed apps]) when missing;
    refuse when the stored fingerprint does not match the key."""
    if data.provider == "postgres":
        store = PgStore(data.db_url)
        fresh = False
    else:
        fresh = not data.db.exists()
        if fresh and not create_if_missing:
            raise SimulatorError(f"{data.db}: database missing")
        data.db.parent.mkdir(parents=True, exist_ok=True)
        store = Store(data.db, create=True)
    try:
        if fresh or not store.has_schema():
            store.create_schema(key_fingerprint(key))
            if seed:
                seed_apps(data, store, random.Random())
        check_fingerprint(data, key, store.meta("key_fingerprint"))
        return store
    except BaseException:
        store.conn.close()
        raise


def seed_apps(data: DataDir, store: Store, rng: random.Random) -> None:
    for name in SEED_APPS:
        store.begin()
        try:
            app_id = store.insert_app(name)
            add_bundle(data, store, rng, app_id)
            store.commit()
        except BaseException:
            store.rollback()
            raise


def add_bundle(data: DataDir, store: Store, rng: random.Random, app_id: int) -> tuple[int, int]:
    """Inside a transaction: write the bundle file durably, then insert the row referencing it."""
    bundle_id = store.allocate("next_bundle_id")
    relpath = data.bundle_relpath(app_id, bundle_id)
    content = make_bundle(rng, app_id, bundle_id)
    write_durably(data.root / relpath, content, base=data.apps)
    store.pending_files.append(data.root / relpath)
    store.insert_bundle(bundle_id, app_id, relpath, sha256_bytes(content), len(content))
    return bundle_id, len(content)


# --------------------------------------------------------------------------------------------
# The running lock: an exclusive flock on the data directory itself


def try_lock(data: DataDir) -> int | None:
    """An fd holding the exclusive lock on DIR, or None when another process holds it."""
    fd = os.open(data.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise


def is_running(data: DataDir) -> bool:
    if not data.root.is_dir():
        return False
    fd = try_lock(data)
    if fd is None:
        return True
    os.close(fd)
    return False


def read_pid(data: DataDir) -> int | None:
    try:
        text = data.pid.read_text().strip()
        return int(text) if text else None
    except (FileNotFoundError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    def __init__(self, data: DataDir, store: Store, interval: float, max_bundles: int):
        self.data = data
        self.store = store
        self.interval = interval
        self.max_bundles = max_bundles
        self.rng = random.Random()
        self.stopping = False
        self.log = open(data.connect_log, "a", buffering=1)
        self.identity = self.current_identity()

    def current_identity(self) -> tuple:
        """The data directory's and database's (device, inode): if either changes (the directory
        was removed or replaced under us, e.g. by a test's cleanup), the daemon exits."""
        watched = [self.data.root] + ([self.data.db] if self.data.provider == "sqlite" else [])
        return tuple((info.st_dev, info.st_ino) for info in map(os.stat, watched))

    def say(self, message: str) -> None:
        self.log.write(f"{now()} [{os.getpid()}] {message}\n")

    def request_stop(self, signum, frame) -> None:
        self.stopping = True

    def step(self) -> None:
        """One step, one transaction: maybe a new app, always a new bundle (file fsynced before
        the row), sometimes the deletion of an old bundle (row, committed, then the file)."""
        store, rng = self.store, self.rng
        try:
            same = self.current_identity() == self.identity
        except FileNotFoundError:
            same = False
        if not same:
            raise SimulatorError(f"{self.data.root} or its database was removed or replaced; exiting")
        removed: tuple[int, str] | None = None
        store.begin()
        try:
            apps = store.app_ids()
            if not apps or rng.random() < 0.02:
                apps.append(store.insert_app(f"app-{rng.randrange(1 << 20):05x}"))
            app_id = rng.choice(apps)
            bundle_id, size = add_bundle(self.data, store, rng, app_id)
            if store.bundle_count() > self.max_bundles or rng.random() < 0.3:
                removed = store.oldest_inactive_bundle(rng)
                if removed is not None:
                    store.delete_bundle(removed[0])
            store.commit()
        except BaseException:
            store.rollback()
            raise
        message = f"deployed bundle {bundle_id} for app {app_id} ({size} bytes)"
        if removed is not None:
            path = self.data.root / removed[1]
            path.unlink(missing_ok=True)
            for directory in (path.parent, path.parent.parent):
                try:
                    directory.rmdir()
                except OSError:
                    break
            message += f"; removed bundle {removed[0]}"
        self.say(message)

    def run(self) -> None:
        self.say(f"started (data dir {self.data.root}, interval {self.interval * 1000:.0f} ms)")
        steps = 0
        while not self.stopping:
            self.step()
            steps += 1
            deadline = time.monotonic() + self.interval
            while not self.stopping and (left := deadline - time.monotonic()) > 0:
                time.sleep(min(left, 0.05))
        self.say(f"stopping after {steps} steps")
        self.store.close()
        self.say("database closed; stopped")
        self.log.close()


def close_inherited_fds(keep: set[int]) -> None:
    """Close every fd >= 3 except `keep`, so the daemon never holds a caller's pipe."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = soft if soft != resource.RLIM_INFINITY and soft > 0 else 65536
    low = 3
    for fd in sorted(keep) + [limit]:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1


def daemon_main(data: DataDir, key: bytes, lock_fd: int, ready_fd: int, interval: float, max_bundles: int) -> int:
    """In the grandchild: detach stdio, open the store, write the pid file, report ready, run."""
    os.chdir("/")
    os.umask(0o022)
    close_inherited_fds({lock_fd, ready_fd})
    data.daemon_log.parent.mkdir(parents=True, exist_ok=True)
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(data.daemon_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def report(message: str) -> None:
        try:
            os.write(ready_fd, message.encode())
        except OSError:
            pass
        os.close(ready_fd)

    daemon = None
    pid_written = False
    try:
        store = open_store(data, key, create_if_missing=True, seed=True)
        daemon = Daemon(data, store, interval, max_bundles)
        signal.signal(signal.SIGTERM, daemon.request_stop)
        signal.signal(signal.SIGINT, daemon.request_stop)
        # A parent (a test runner) may have left these blocked; a service must hear its stop.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        temporary = data.pid.with_name(data.pid.name + ".tmp")
        temporary.write_text(f"{os.getpid()}\n")
        os.replace(temporary, data.pid)
        pid_written = True
        print(f"{now()} simulator pid {os.getpid()} started", flush=True)
        report("ok\n")
        ready_fd = -1
        daemon.run()
        print(f"{now()} simulator pid {os.getpid()} stopped cleanly", flush=True)
        return EXIT_OK
    except BaseException as error:
        print(f"{now()} simulator pid {os.getpid()} failed:", flush=True)
        traceback.print_exc()
        sys.stderr.flush()
        if ready_fd >= 0:
            report(f"error: {error}\n")
        return EXIT_FAIL
    finally:
        if pid_written:
            try:
                data.pid.unlink()
            except FileNotFoundError:
                pass
        os.close(lock_fd)  # last: from here on `status` says stopped


# --------------------------------------------------------------------------------------------
# Commands


def cmd_init(args) -> int:
    data = DataDir(args.data, args.provider, args.db_url)
    if data.key.exists() or data.db.exists():
        raise SimulatorError(f"{data.root} is already initialized ({data.key} or {data.db} exists)")
    for directory in (data.root, data.key.parent, data.apps, data.connect_log.parent):
        directory.mkdir(parents=True, exist_ok=True)
    if data.provider == "postgres":
        write_durably(data.config, json.dumps({"provider": "postgres", "url": data.db_url}).encode(), base=data.root, mode=0o600)
    key = os.urandom(32)
    write_durably(data.key, key, base=data.root, mode=0o600)
    store = open_store(data, key, create_if_missing=True, seed=True)
    apps, bundles = len(store.all_apps()), store.bundle_count()
    store.close()
    print(f"initialized {data.root}: key {key_fingerprint(key)[:16]}..., {apps} apps, {bundles} bundles")
    return EXIT_OK


def cmd_start(args) -> int:
    data = DataDir(args.data, args.provider, getattr(args, 'db_url', None))
    if not data.root.is_dir():
        raise SimulatorError(f"{data.root}: data directory missing")
    lock_fd = try_lock(data)
    if lock_fd is None:
        pid = read_pid(data)
        print(f"already running (pid {pid})" if pid else "already running (starting)")
        return EXIT_OK
    try:
        # Refusals happen here, in the foreground, so they reach the caller's stderr.
        key = read_key(data)
        open_store(data, key, create_if_missing=True, seed=True).close()
        if data.pid.exists():
            data.pid.unlink()  # stale: we hold the lock, so nobody runs
        for directory in (data.apps, data.connect_log.parent):
            directory.mkdir(parents=True, exist_ok=True)
        ready_read, ready_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:  # intermediate child
            status = EXIT_FAIL
            try:
                os.close(ready_read)
                os.setsid()
                if os.fork() == 0:  # the daemon
                    status = daemon_main(data, key, lock_fd, ready_write, args.interval_ms / 1000, args.max_bundles)
                else:
                    status = EXIT_OK
            finally:
                os._exit(status)
        os.close(ready_write)
        os.waitpid(child, 0)
        deadline = time.monotonic() + args.timeout
        answer = b""
        try:  # read until EOF: the daemon reports and closes its end (or dies)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([ready_read], [], [], left)[0]:
                    raise SimulatorError(f"daemon did not report ready within {args.timeout} s (see {data.daemon_log})")
                chunk = os.read(ready_read, 4096)
                if not chunk:
                    break
                answer += chunk
        finally:
            os.close(ready_read)
        text = answer.decode(errors="replace").strip()
        if text != "ok":
            raise SimulatorError(f"daemon failed to start: {text or 'it exited'} (see {data.daemon_log})")
        while read_pid(data) is None:
            if time.monotonic() > deadline:
                raise SimulatorError(f"daemon wrote no pid file {data.pid} (see {data.daemon_log})")
            time.sleep(0.01)
        print(f"started (pid {read_pid(data)})")
        return EXIT_OK
    finally:
        os.close(lock_fd)


def cmd_stop(args) -> int:
    data = DataDir(args.data, args.provider, getattr(args, 'db_url', None))
    if not is_running(data):
        print("not running")
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    pid = read_pid(data)
    while pid is None:  # the daemon is between taking the lock and writing its pid file
        if not is_running(data):
            print("not running")
            return EXIT_OK
        if time.monotonic() > deadline:
            raise SimulatorError(f"running but no pid in {data.pid}")
        time.sleep(0.01)
        pid = read_pid(data)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    print(f"sent SIGTERM to pid {pid}")
    if args.wait:
        while is_running(data):
            if time.monotonic() > deadline:
                raise SimulatorError(f"pid {pid} still running after {args.timeout} s")
            time.sleep(0.01)
        print("stopped")
    return EXIT_OK


def cmd_status(args) -> int:
    data = DataDir(args.data, args.provider, getattr(args, 'db_url', None))
    if is_running(data):
        print(f"running (pid {read_pid(data)})")
        return EXIT_OK
    print("stopped")
    return EXIT_NOT_RUNNING


def store_errors() -> tuple:
    """The database errors a check reports (psycopg2's only when it is importable)."""
    try:
        import psycopg2
        return (sqlite3.Error, psycopg2.Error)
    except ImportError:
        return (sqlite3.Error,)


def file_problems(data: DataDir, key: bytes | None, stored: str | None, bundles: list, apps: list) -> list[str]:
    """What the database rows say against the files under DIR: fingerprint, bundles, orphans."""
    problems: list[str] = []
    if key is not None:
        try:
            check_fingerprint(data, key, stored)
        except SimulatorError as error:
            problems.append(str(error))

    referenced = set()
    bundle_ids = set()
    for bundle_id, app_id, relpath, digest, size in bundles:
        bundle_ids.add(bundle_id)
        referenced.add(relpath)
        path = data.root / relpath
        if os.path.isabs(relpath) or ".." in Path(relpath).parts or not relpath.startswith(APPS_RELPATH + "/"):
            problems.append(f"bundle {bundle_id}: path {relpath!r} is not under {APPS_RELPATH}/")
            continue
        if not path.is_file():
            problems.append(f"bundle {bundle_id}: dangling row, {relpath} missing")
            continue
        actual_digest, actual_size = sha256_file(path)
        if actual_size != size:
            problems.append(f"bundle {bundle_id}: {relpath} has {actual_size} bytes, row says {size}")
        elif actual_digest != digest:
            problems.append(f"bundle {bundle_id}: {relpath} sha256 {actual_digest[:16]}... differs from row's {digest[:16]}...")
    for app_id, name, active in apps:
        if active is not None and active not in bundle_ids:
            problems.append(f"app {app_id} ({name}): active bundle {active} has no row")

    if data.apps.is_dir():
        for directory, _, files in os.walk(data.apps):
            for name in files:
                relpath = (Path(directory) / name).relative_to(data.root).as_posix()
                if relpath not in referenced:
                    problems.append(f"orphan file {relpath}: no bundle row references it")
    elif bundles:
        problems.append(f"{data.apps}: directory missing")

    return problems


def consistency_problems(data: DataDir) -> tuple[list[str], str]:
    problems: list[str] = []

    key = None
    try:
        key = read_key(data)
    except SimulatorError as error:
        problems.append(str(error))

    if data.provider == "postgres":
        try:
            store = PgStore(data.db_url)
            problems += store.integrity_problems()
            stored = store.meta("key_fingerprint")
            bundles = store.all_bundles()
            apps = store.all_apps()
            store.close()
        except store_errors() as error:
            problems.append(f"PostgreSQL: {str(error).strip().splitlines()[0]}")
            return problems, ""
        return problems + file_problems(data, key, stored, bundles, apps), f"{len(apps)} apps, {len(bundles)} bundles"

    if not data.db.is_file():
        problems.append(f"{data.db}: database missing")
        return problems, ""

    # Check a private copy (db + -wal + -journal, not -shm, which SQLite rebuilds), so checking
    # never changes the directory under test (no WAL replay, no checkpoint, no new files).
    with tempfile.TemporaryDirectory(prefix="connect-simulator-check-") as scratch:
        copy = Path(scratch) / data.db.name
        for suffix in ("", "-wal", "-journal"):
            source = data.db.with_name(data.db.name + suffix)
            if source.exists():
                shutil.copy2(source, copy.with_name(copy.name + suffix))
        try:
            store = Store(copy)
            problems += store.integrity_problems()
            stored = store.meta("key_fingerprint")
            bundles = store.all_bundles()
            apps = store.all_apps()
            store.conn.close()
        except sqlite3.Error as error:
            problems.append(f"{data.db}: {error}")
            return problems, ""

    problems += file_problems(data, key, stored, bundles, apps)
    summary = f"{len(apps)} apps, {len(bundles)} bundles"
    return problems, summary


def cmd_check(args) -> int:
    data = DataDir(args.data, args.provider, getattr(args, 'db_url', None))
    if not data.root.is_dir():
        raise SimulatorError(f"{data.root}: data directory missing")
    problems, summary = consistency_problems(data)
    if problems:
        for problem in problems:
            print(problem)
        print(f"inconsistent: {len(problems)} problem(s)")
        return EXIT_FAIL
    note = ""
    if is_running(data):
        note = " (note: the simulator is running on this directory; a check of a live directory may be torn)"
    elif data.pid.exists():
        note = " (note: simulator.pid present: copied while running?)"
    print(f"consistent: {summary}{note}")
    return EXIT_OK


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="A Posit Connect stand-in for lockstep's tests.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.add_argument("--data", required=True, metavar="DIR", help="the data directory")
        sub.add_argument("--provider", choices=["sqlite", "postgres"], default=None,
                         help="database provider (default: as recorded by init, else sqlite)")
        sub.add_argument("--db-url", default=None,
                         help="PostgreSQL URL (postgres provider; init records it in DIR/simulator.json)")
        return sub

    command("init", "create the data directory, key, database and seed apps").set_defaults(run=cmd_init)
    start = command("start", "check the key, start the daemon, return once it runs")
    start.add_argument("--interval-ms", type=int, default=20, help="time between steps (default 20)")
    start.add_argument("--max-bundles", type=int, default=100,
                       help="delete an old bundle every step above this many (default 100)")
    start.add_argument("--timeout", type=float, default=30, help="seconds to wait for the daemon (default 30)")
    start.set_defaults(run=cmd_start)
    stop = command("stop", "send SIGTERM to the daemon")
    stop.add_argument("--wait", action="store_true", help="wait until it stopped")
    stop.add_argument("--timeout", type=float, default=30, help="seconds to wait with --wait (default 30)")
    stop.set_defaults(run=cmd_stop)
    command("status", "exit 0 when running, 3 when not").set_defaults(run=cmd_status)
    command("check", "consistency check of a data directory").set_defaults(run=cmd_check)
    args = parser.parse_args(argv)
    if getattr(args, "interval_ms", 1) < 1:
        parser.error("--interval-ms must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        return args.run(args)
    except SimulatorError as error:
        print(f"{PROG}: {args.command}: {error}", file=sys.stderr)
        return EXIT_FAIL
    except (OSError,) + store_errors() as error:
        print(f"{PROG}: {args.command}: {str(error).strip()}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
