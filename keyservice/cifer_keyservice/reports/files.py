"""Report files (CSV, PDF) kept until they expire, and the signed URLs that serve them without a
token (docs/security-api.md, "Reports").

A download URL is `/api/security/reports/{reportId}/download?expires=UNIX&signature=HEX`, where
the signature is HMAC-SHA256, under the `reports` service key (wrapped by the KEK at rest), of
the report id and the expiry. A URL whose signature does not verify is refused 403 whatever it
names; a verified one past its expiry is 410 Gone, and the file is deleted once it expires (at
the next generation). Anyone holding the URL can fetch the file until then: it is a bearer
credential in itself, as a presigned object-store URL is."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import urllib.parse

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.db.models import SecurityReport

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
MAX_REPORT_BYTES = 32 * 1024 * 1024


class BadSignature(Exception):
    pass


class Expired(Exception):
    pass


def new_report_id() -> str:
    return "rpt_" + secrets.token_hex(12)


class ReportFiles:
    def __init__(self, sessions: async_sessionmaker, key: bytes) -> None:
        self._sessions = sessions
        self._key = key

    def _signature(self, report_id: str, expires: int) -> str:
        return hmac.new(self._key, f"report\x00{report_id}\x00{expires}".encode(), hashlib.sha256).hexdigest()

    def path(self, report_id: str, expires_at: datetime.datetime) -> str:
        expires = int(expires_at.timestamp())
        query = urllib.parse.urlencode({"expires": expires, "signature": self._signature(report_id, expires)})
        return f"/api/security/reports/{report_id}/download?{query}"

    async def keep(self, *, report_id: str, owner_id: str, report_type: str, file_format: str, body: bytes,
                   created_at: datetime.datetime, expires_at: datetime.datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(SecurityReport).where(SecurityReport.expires_at < created_at))
            session.add(SecurityReport(id=report_id, owner_id=owner_id, report_type=report_type, format=file_format,
                                       body=body, created_at=created_at, expires_at=expires_at))

    async def fetch(self, report_id: str, expires: str, signature: str, now: datetime.datetime) -> SecurityReport | None:
        """The file the URL names; BadSignature, Expired, or None when it is gone."""
        if not expires.isdecimal() or len(expires) > 12 or not hmac.compare_digest(
                signature.encode(), self._signature(report_id, int(expires)).encode()):
            raise BadSignature
        if now.timestamp() >= int(expires):
            raise Expired
        async with self._sessions() as session:
            report = await session.get(SecurityReport, report_id)
        return None if report is None or report.expires_at <= now else report
