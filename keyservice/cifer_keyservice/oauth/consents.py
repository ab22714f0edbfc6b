"""Consents remembered: a user who allowed a client one set of scopes is not asked again for it
(asked again for any other set)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthConsent


def scope_set(scope: str) -> str:
    return " ".join(sorted(set(scope.split())))


class Consents:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def given(self, user_id: str, client_id: str, scope: str) -> bool:
        async with self._sessions.begin() as session:
            return await session.get(OAuthConsent, (user_id, client_id, scope_set(scope))) is not None

    async def give(self, user_id: str, client_id: str, scope: str) -> None:
        try:
            async with self._sessions.begin() as session:
                session.add(OAuthConsent(user_id=user_id, client_id=client_id, scope=scope_set(scope),
                                         created_at=utcnow()))
        except IntegrityError:
            pass  # given already (another tab)
