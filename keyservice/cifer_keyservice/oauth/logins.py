"""The browser's side of the authorization page: its login session and its CSRF token.

Both are cookies that are `Secure`, `HttpOnly` and `SameSite=Lax`, scoped to `/oauth/`:
- `cifer_login`: a random id (256 bits) naming a login in the database (its SHA-256), valid for
  `ttl_s`; a consent asked within that time needs no new password.
- `cifer_csrf`: a random value that every form posted back must carry too (double submit, compared
  in constant time). A page of another site can neither read the cookie nor, under SameSite=Lax,
  have the browser send it with a cross-site POST.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from aiohttp import web
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthSession

LOGIN_COOKIE, CSRF_COOKIE = "cifer_login", "cifer_csrf"
COOKIE_PATH = "/oauth/"
MAX_COOKIE_CHARS = 64


def _set(response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, path=COOKIE_PATH, secure=True, httponly=True, samesite="Lax", max_age=max_age)


def csrf_token(request: web.Request, response_cookies: dict[str, str]) -> str:
    """The browser's CSRF token; a new one (set on the response by `set_cookies`) if it has none."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if not 32 <= len(token) <= MAX_COOKIE_CHARS:
        token = secrets.token_urlsafe(32)
        response_cookies[CSRF_COOKIE] = token
    return token


def csrf_holds(request: web.Request, posted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and isinstance(posted, str) and hmac.compare_digest(cookie.encode(), posted.encode())


def set_cookies(response: web.StreamResponse, cookies: dict[str, str], *, login_max_age: int) -> None:
    for name, value in cookies.items():
        _set(response, name, value, max_age=login_max_age if name == LOGIN_COOKIE else None)


class Logins:
    def __init__(self, sessions: async_sessionmaker, *, ttl_s: int) -> None:
        self._sessions = sessions
        self.ttl_s = ttl_s

    async def start(self, user_id: str) -> str:
        """A new login; the cookie's value."""
        value, now = secrets.token_urlsafe(32), utcnow()
        async with self._sessions.begin() as session:
            await session.execute(delete(OAuthSession).where(OAuthSession.expires_at <= now))
            session.add(OAuthSession(id_hash=hashlib.sha256(value.encode()).digest(), user_id=user_id, created_at=now,
                                     expires_at=now + datetime.timedelta(seconds=self.ttl_s)))
        return value

    async def of(self, request: web.Request) -> OAuthSession | None:
        """The request's login, while it lasts."""
        value = request.cookies.get(LOGIN_COOKIE, "")
        if not 32 <= len(value) <= MAX_COOKIE_CHARS:
            return None
        async with self._sessions.begin() as session:
            row = await session.get(OAuthSession, hashlib.sha256(value.encode()).digest())
        return row if row is not None and row.expires_at > utcnow() else None
