"""Issue 15, defect 8, from outside: the key service's SQLite database, its WAL and its shared
memory file are its owner's only, on a fresh data directory and on one an older version left."""

from __future__ import annotations

import os
import time

from keyservice.served import Service, api_key


def wait_for_file(path) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_the_database_and_its_wal_and_shm_are_readable_by_their_owner_only(data, services):
    key = api_key(data)
    os.umask(0o022)  # what a shell usually gives
    services.append(service := Service(data))
    service.create_cifers(key, 1)
    wait_for_file(data / "audit-checkpoint.json")
    names = ("cifer.db", "cifer.db-wal", "cifer.db-shm", "audit-checkpoint.json")
    modes = {name: (data / name).stat().st_mode & 0o777 for name in names}
    assert modes == dict.fromkeys(names, 0o600)
    service.stop()


def test_a_database_left_0644_by_an_older_version_is_tightened_at_start(data, services):
    api_key(data)
    for name in ("cifer.db", "cifer.db-wal", "cifer.db-shm"):
        if (data / name).exists():
            (data / name).chmod(0o644)
    services.append(service := Service(data))
    assert (data / "cifer.db").stat().st_mode & 0o777 == 0o600
    service.stop()
