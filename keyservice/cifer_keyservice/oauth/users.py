"""The local user store: who may log in on the authorization server's page (docs/oauth.md), for
teams without an identity provider. `cifer keyservice user create|disable|enable|reset`.

Passwords are kept as argon2id hashes (argon2-cffi's defaults: RFC 9106's second recommended
option, 64 MiB and 3 passes), and verified in a worker thread so the event loop never waits on
one. A login that fails counts against the account; `lockout_after` failures in a row lock it for
`lockout_s` (a success, or an administrator's reset, clears the count). An unknown name costs the
same hash as a known one, and every failure reads the same to the caller, locked or not: the page
tells no one which usernames exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import re
import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthUser
from cifer_keyservice.settings import SCOPES

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,63}$")
MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS = 12, 256  # NIST SP 800-63B: at least 8; long passphrases welcome
DEFAULT_SCOPES = ("cifer:read", "cifer:create", "encrypt", "decrypt")  # all but cifer:delete and admin
_HASHER = PasswordHasher()  # argon2id
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))  # verified against when the name is unknown: same cost


class Outcome(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # unknown name, wrong password or disabled
    LOCKED = "locked"  # too many failures: refused without looking at the password


@dataclasses.dataclass(frozen=True)
class Login:
    outcome: Outcome
    user: OAuthUser | None = None  # when OK
    locked_now: bool = False  # this failure locked the account (audited as such)


class UserError(ValueError):
    """A user cannot be made or changed as asked; the message says why."""


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UserError(f"a password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


def check_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    if not chosen or set(chosen) - SCOPES:
        raise UserError(f"scopes must be drawn from {', '.join(sorted(SCOPES))}")
    return chosen


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class UserStore:
    def __init__(self, sessions: async_sessionmaker, *, lockout_after: int, lockout_s: int) -> None:
        self._sessions = sessions
        self.lockout_after = lockout_after
        self.lockout_s = lockout_s

    async def create(self, username: str, password: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> OAuthUser:
        if not USERNAME.match(username):
            raise UserError("a username is 1 to 64 of a-z 0-9 . _ @ + - (lower case), starting with a letter or digit")
        hashed = await asyncio.to_thread(_HASHER.hash, check_password(password))
        now = utcnow()
        user = OAuthUser(id="usr_" + secrets.token_hex(12), username=username, password_hash=hashed,
                         scopes=check_scopes(scopes), disabled=False, failed_logins=0, created_at=now, updated_at=now)
        async with self._sessions.begin() as session:
            if (await session.execute(select(OAuthUser.id).where(OAuthUser.username == username))).first():
                raise UserError(f"a user named {username} exists")
            session.add(user)
        return user

    async def _change(self, username: str, **fields) -> OAuthUser:
        async with self._sessions.begin() as session:
            user = (await session.execute(select(OAuthUser).where(OAuthUser.username == username))).scalar()
            if user is None:
                raise UserError(f"no user named {username}")
            for name, value in fields.items():
                setattr(user, name, value)
            user.updated_at = utcnow()
        return user

    async def set_disabled(self, username: str, disabled: bool) -> OAuthUser:
        return await self._change(username, disabled=disabled)

    async def reset(self, username: str, password: str) -> OAuthUser:
        """A new password; the account is unlocked and its failures forgotten."""
        hashed = await asyncio.to_thread(_HASHER.hash, check_password(password))
        return await self._change(username, password_hash=hashed, failed_logins=0, locked_until=None)

    async def get(self, user_id: str) -> OAuthUser | None:
        async with self._sessions.begin() as session:
            return await session.get(OAuthUser, user_id)

    async def login(self, username: str, password: str) -> Login:
        async with self._sessions.begin() as session:
            user = (await session.execute(select(OAuthUser).where(OAuthUser.username == username))).scalar()
        now = utcnow()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            return Login(Outcome.LOCKED)
        matched = await asyncio.to_thread(_verify, user.password_hash if user is not None else _DUMMY,
                                          password[:MAX_PASSWORD_CHARS])
        if user is None:
            return Login(Outcome.REFUSED)
        async with self._sessions.begin() as session:
            user = await session.get(OAuthUser, user.id, with_for_update=True)
            if matched and user.disabled:
                return Login(Outcome.REFUSED)
            if matched:
                user.failed_logins, user.locked_until = 0, None
                return Login(Outcome.OK, user)
            user.failed_logins += 1
            locked = user.failed_logins >= self.lockout_after
            if locked:
                user.failed_logins, user.locked_until = 0, now + datetime.timedelta(seconds=self.lockout_s)
            return Login(Outcome.REFUSED, locked_now=locked)
