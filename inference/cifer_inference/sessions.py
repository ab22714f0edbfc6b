"""Sessions: one client's evaluation keys, held in memory until deleted or idle for the TTL,
their number and their memory bounded."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from cifer.fhe import protocol
from cifer_inference.errors import Problem, not_found, unavailable
from cifer_inference.ratelimit import Window


@dataclasses.dataclass(eq=False)
class Session:
    session_id: str
    context: Any  # cifer.fhe.seal.CkksContext, shared by sessions with the same parameters
    keys: Any  # cifer.fhe.seal.EvaluationKeys
    nbytes: int
    last_used: float
    infer_window: Window = dataclasses.field(default_factory=Window)


class SessionStore:
    def __init__(self, *, ttl_s: float, max_sessions: int, max_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_sessions, self.max_bytes, self.clock = ttl_s, max_sessions, max_bytes, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()  # registrations finish in a worker thread

    def get(self, session_id: str) -> Session:
        """The live session, its idle clock restarted; 404 if unknown or expired."""
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or now - session.last_used > self.ttl_s:
                self._sessions.pop(session_id, None)
                raise not_found(protocol.SESSION_NOT_FOUND)
            session.last_used = now
            return session

    def admit(self, session_id: str, nbytes: int) -> None:
        """503 unless a session of `nbytes` fits (in place of the one with its id, if any):
        checked before its keys are loaded, and again when it is added."""
        with self._lock:
            self._check(session_id, nbytes)

    def add(self, session: Session) -> None:
        """Add, or replace the keys of a session registered again under the same id."""
        with self._lock:
            self._check(session.session_id, session.nbytes)
            session.last_used = self.clock()
            self._sessions[session.session_id] = session

    def _check(self, session_id: str, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            raise Problem(413, f"Evaluation keys of {nbytes // (1 << 20)} MiB exceed the service's bound "
                               f"({self.max_bytes // (1 << 20)} MiB): send only the Galois keys the models use")
        self._sweep(self.clock())
        others = [s for sid, s in self._sessions.items() if sid != session_id]
        if len(others) >= self.max_sessions:
            raise unavailable(f"Session capacity reached ({self.max_sessions} sessions); retry later "
                              "or delete unused sessions", self._retry_after_s(others))
        if sum(s.nbytes for s in others) + nbytes > self.max_bytes:
            raise unavailable(f"Session memory reached ({self.max_bytes // (1 << 20)} MiB of evaluation keys); "
                              "retry later or delete unused sessions", self._retry_after_s(others))

    def remove(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None or self.clock() - session.last_used > self.ttl_s:
            raise not_found(protocol.SESSION_NOT_FOUND)

    def sweep(self) -> int:
        with self._lock:
            return self._sweep(self.clock())

    def _sweep(self, now: float) -> int:
        expired = [sid for sid, s in self._sessions.items() if now - s.last_used > self.ttl_s]
        for sid in expired:
            del self._sessions[sid]
        return len(expired)

    def _retry_after_s(self, sessions: list[Session]) -> int:
        """Until the idlest session expires, if nothing else frees room first."""
        if not sessions:
            return 1
        return math.ceil(min(s.last_used for s in sessions) + self.ttl_s - self.clock())
