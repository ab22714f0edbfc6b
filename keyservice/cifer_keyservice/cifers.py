"""Cifer lifecycle: create, read, list, update, rotate, revoke, and the public key.

Every change is one transaction holding the change, its audit record and its outbox event:
a process killed at any point leaves the old state or the new, never a half. Key material
is generated (HSM round trip) before that transaction opens, so no lock waits on the HSM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import secrets
import string
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cifer.api.timestamps import iso
from cifer.crypto.suites import suite_by_name
from cifer.keystore.store import Keystore, StoredKey
from cifer_keyservice import errors, events
from cifer_keyservice.audit import AuditLog, Entry
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, CiferVersion
from cifer_keyservice.seedcache import SeedCache
from cifer_keyservice.records import (
    POLICY_FIELDS,
    CiferRecord,
    CreateCifer,
    Page,
    Policy,
    PublicKey,
    Rotation,
    RotateCifer,
    Statistics,
    UpdateCifer,
)

_ID_ALPHABET = string.ascii_letters + string.digits
CIFER_ID_RANDOM_CHARS = 24  # 142 bits: ids are not guessable


def new_cifer_id() -> str:
    return "cif_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(CIFER_ID_RANDOM_CHARS))


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who asks, and the request's identifiers for the audit record."""

    principal: Principal
    request_id: str
    source: str
    user_agent: str = ""  # the request's User-Agent, bounded; recorded in the details where given

    def entry(self, operation: str, outcome: str, **fields: Any) -> Entry:
        if self.user_agent:
            fields["details"] = {**fields.get("details", {}), "user_agent": self.user_agent}
        return Entry(principal=self.principal.id, operation=operation, outcome=outcome,
                     request_id=self.request_id, source=self.source, **fields)


def encapsulation_key(cifer: Cifer, version: CiferVersion) -> bytes:
    """The version's public key as DER (SubjectPublicKeyInfo)."""
    return suite_by_name(cifer.suite).public_key_der(version.public_key)


def policy_of(cifer: Cifer) -> Policy:
    return Policy.from_stored(cifer.policy)


def can_see(principal: Principal, cifer: Cifer) -> bool:
    return principal.is_admin or principal.id == cifer.owner_id or principal.id in policy_of(cifer).allowed_principals


def can_manage(principal: Principal, cifer: Cifer) -> bool:
    return principal.is_admin or principal.id == cifer.owner_id


def record_of(cifer: Cifer, current: CiferVersion | None = None) -> CiferRecord:
    """The cifer, with its current version's public key when `current` is given and it is active."""
    active = current is not None and cifer.status == "active"
    return CiferRecord(
        cifer_id=cifer.id, name=cifer.name, description=cifer.description, status=cifer.status,
        created_at=cifer.created_at, updated_at=cifer.updated_at, owner_id=cifer.owner_id,
        key_version=cifer.current_version, key_algorithm=cifer.suite, metadata=cifer.metadata_,
        policy=policy_of(cifer), next_rotation_at=cifer.next_rotation_at, aead=cifer.aead, expires_at=cifer.expires_at,
        statistics=Statistics(total_encryptions=cifer.encryptions, total_decryptions=cifer.decryptions,
                              failed_decryptions=cifer.decrypt_failures, last_used_at=cifer.last_used_at),
        encapsulation_key=encapsulation_key(cifer, current) if active else None,
        key_created_at=current.created_at if active else None,
    )


class CiferService:
    def __init__(self, sessions: async_sessionmaker, keystore: Keystore, audit: AuditLog, *,
                 default_window_days: int, seeds: SeedCache | None = None) -> None:
        """`default_window_days`: a rotated-out version's decrypt-only days when neither the
        request nor the cifer's policy names them. `seeds`: the decapsulation service's cache of
        unwrapped seeds, dropped for a cifer once its rotation or revocation committed."""
        self._sessions = sessions
        self._keystore = keystore
        self._audit = audit
        self._default_window_days = default_window_days
        self._seeds = seeds

    async def _generate(self, algorithm: str) -> StoredKey:
        """A new key pair from the HSM; the call blocks, so it runs off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self._keystore.generate, suite_by_name(algorithm))

    async def _load(self, session: AsyncSession, cifer_id: str, *, for_update: bool = False) -> Cifer | None:
        query = select(Cifer).where(Cifer.id == cifer_id)
        if for_update:
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    async def _current_version(self, session: AsyncSession, cifer: Cifer) -> CiferVersion:
        return await session.get(CiferVersion, (cifer.id, cifer.current_version))

    async def _visible(self, session: AsyncSession, caller: Caller, cifer_id: str, *, for_update: bool = False) -> Cifer:
        """The cifer if the caller may see it; NotFound otherwise, so ids cannot be probed."""
        cifer = await self._load(session, cifer_id, for_update=for_update)
        if cifer is None or not can_see(caller.principal, cifer):
            raise errors.NotFound(cifer_id=cifer_id)
        return cifer

    async def create(self, caller: Caller, request: CreateCifer) -> CiferRecord:
        stored = await self._generate(request.algorithm)
        now = utcnow()
        policy = request.policy
        cifer = Cifer(
            id=new_cifer_id(), name=request.name, description=request.description, metadata_=request.metadata,
            policy=policy.to_json(), owner_id=caller.principal.id, suite=request.algorithm, aead=request.aead,
            expires_at=request.expires_at, status="active",
            current_version=1, created_at=now, updated_at=now, revoked_at=None,
            next_rotation_at=now + datetime.timedelta(days=policy.auto_rotate_days) if policy.auto_rotate_days else None,
            encryptions=0, encrypted_bytes=0, decryptions=0, decrypt_failures=0,
        )
        version = CiferVersion(
            cifer_id=cifer.id, version=1, public_key=stored.public_key, wrapped_seed=stored.wrapped_seed,
            kek_id=stored.kek_id, state="active", created_at=now,
        )
        async with self._sessions.begin() as session:
            session.add(cifer)
            await session.flush()
            session.add(version)
            await self._audit.append(session, caller.entry("create", "success", cifer_id=cifer.id, key_version=1))
            await events.emit(session, "cifer.created", owner_id=cifer.owner_id,
                              data={"cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id})
        return record_of(cifer, version)

    async def get(self, caller: Caller, cifer_id: str) -> CiferRecord:
        """The cifer with its current public key, when its version was made and when the next
        scheduled rotation is due: all a declarative client needs."""
        async with self._sessions.begin() as session:
            cifer = await self._visible(session, caller, cifer_id)
            return await self._detail(session, cifer)

    async def _detail(self, session: AsyncSession, cifer: Cifer) -> CiferRecord:
        """What get and update answer: the cifer with its current version, while it is active."""
        current = await self._current_version(session, cifer) if cifer.status == "active" else None
        return record_of(cifer, current)

    async def list(self, caller: Caller, *, status: str | None, limit: int, cursor: str | None) -> Page[CiferRecord]:
        """Cursor pagination: ordered by id, `cursor` is the last id seen. Without public keys."""
        query = select(Cifer).order_by(Cifer.id).limit(limit + 1)
        if not caller.principal.is_admin:
            query = query.where(Cifer.owner_id == caller.principal.id)
        if status is not None:
            query = query.where(Cifer.status == status)
        if cursor is not None:
            query = query.where(Cifer.id > cursor)
        async with self._sessions.begin() as session:
            rows = (await session.execute(query)).scalars().all()
        return Page.of(rows, limit, key=lambda cifer: cifer.id, record=record_of)

    async def findable(self, *, name: str | None = None, cifer_id: str | None = None, limit: int) -> list[CiferRecord]:
        """The unrevoked cifers called `name` (or the one with `cifer_id`), newest first, with their
        public keys: anyone who may encrypt may find a key to encrypt to (public keys are public, §4.7)."""
        query = select(Cifer).where(Cifer.status != "revoked").order_by(Cifer.created_at.desc(), Cifer.id).limit(limit)
        query = query.where(Cifer.name == name) if cifer_id is None else query.where(Cifer.id == cifer_id)
        async with self._sessions.begin() as session:
            return [await self._detail(session, cifer) for cifer in (await session.execute(query)).scalars().all()]

    @property
    def kek_id(self) -> str:
        """The KEK new keys are wrapped by (`file:...` or `pkcs11:...`): non-secret, a name."""
        return self._keystore.kek_id

    def _check_usable(self, cifer: Cifer, operation: str, *, policy_override: bool = False) -> None:
        if cifer.status == "revoked":
            raise errors.Revoked(cifer_id=cifer.id)
        if operation == "encrypt" and cifer.expires_at is not None and cifer.expires_at <= utcnow():
            raise errors.Expired(cifer_id=cifer.id, expired_at=iso(cifer.expires_at))
        if not policy_override and not policy_of(cifer).allows(operation):
            raise errors.Forbidden(f"the policy of this CIFER does not allow {operation}",
                                   cifer_id=cifer.id, operation=operation)

    def _check_manager(self, caller: Caller, cifer: Cifer) -> None:
        if not can_manage(caller.principal, cifer):
            raise errors.Forbidden(cifer_id=cifer.id, required_permission="owner")

    async def rotate(
        self, caller: Caller, cifer_id: str, request: RotateCifer, *, scheduled: bool = False,
    ) -> Rotation | None:
        """A new active version; the old one decrypts until the re-encryption deadline.

        `scheduled` rotations (the scheduler's) go ahead only if the key is still due once its
        row is locked, so of several replicas that saw it due, exactly one rotates it; the
        others get None.
        """
        async with self._sessions.begin() as session:  # check before the HSM works for nothing
            cifer = await self._visible(session, caller, cifer_id)
            if not scheduled:
                self._check_manager(caller, cifer)
            self._check_usable(cifer, "encrypt" if scheduled else "rotate")
            algorithm = cifer.suite
        stored = await self._generate(algorithm)
        now = utcnow()
        async with self._sessions.begin() as session:
            cifer = await self._visible(session, caller, cifer_id, for_update=True)
            self._check_usable(cifer, "encrypt" if scheduled else "rotate")  # revoked meanwhile?
            if scheduled and (cifer.next_rotation_at is None or cifer.next_rotation_at > now):
                return None  # another replica rotated it first; the key pair made above is dropped
            deadline = now + datetime.timedelta(days=self._window_days(request, policy_of(cifer)))
            old = await self._current_version(session, cifer)
            old.state, old.decrypt_until = "decrypt_only", deadline
            new_version = cifer.current_version + 1
            session.add(CiferVersion(
                cifer_id=cifer.id, version=new_version, public_key=stored.public_key,
                wrapped_seed=stored.wrapped_seed, kek_id=stored.kek_id, state="active", created_at=now,
            ))
            cifer.current_version, cifer.updated_at = new_version, now
            days = policy_of(cifer).auto_rotate_days
            cifer.next_rotation_at = now + datetime.timedelta(days=days) if days else None
            await self._audit.append(session, caller.entry(
                "rotate", "success", cifer_id=cifer.id, key_version=new_version,
                details={"reason": request.reason, "old_key_version": old.version, "scheduled": scheduled},
            ))
            await events.emit(session, "cifer.rotated", owner_id=cifer.owner_id, data={
                "cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id,
                "old_key_version": old.version, "new_key_version": new_version,
            })
        if self._seeds is not None:
            self._seeds.drop(cifer.id)
        return Rotation(
            cifer_id=cifer.id, old_key_version=old.version, new_key_version=new_version,
            new_encapsulation_key=suite_by_name(algorithm).public_key_der(stored.public_key),
            initiated_at=now, re_encryption_deadline=deadline,
        )

    def _window_days(self, request: RotateCifer, policy: Policy) -> int:
        """The request's window, else the cifer's policy's, else the service's default."""
        for days in (request.re_encryption_window_days, policy.re_encryption_window_days):
            if days is not None:
                return days
        return self._default_window_days

    async def update(self, caller: Caller, cifer_id: str, request: UpdateCifer) -> CiferRecord:
        """Name, description, metadata and policy, as the owner (or an admin) sets them; a new
        `auto_rotate_days` moves the next rotation to that many days after the current
        version was made. A request that changes nothing writes nothing and is not audited."""
        async with self._sessions.begin() as session:
            cifer = await self._visible(session, caller, cifer_id, for_update=True)
            self._check_manager(caller, cifer)
            if cifer.status == "revoked":
                raise errors.Revoked(cifer_id=cifer.id)
            changed = [field for field, old, new in (
                ("name", cifer.name, request.name), ("description", cifer.description, request.description),
                ("metadata", cifer.metadata_, request.metadata)) if new is not None and new != old]
            if "name" in changed:
                cifer.name = request.name
            if "description" in changed:
                cifer.description = request.description
            if "metadata" in changed:
                cifer.metadata_ = dict(request.metadata)
            before, after = policy_of(cifer), request.policy
            policy_changed = [] if after is None else [
                f"policy.{name}" for name in POLICY_FIELDS if getattr(before, name) != getattr(after, name)]
            if policy_changed:
                changed += policy_changed
                cifer.policy = after.to_json()
                if after.auto_rotate_days != before.auto_rotate_days:
                    current = await self._current_version(session, cifer)
                    cifer.next_rotation_at = (current.created_at + datetime.timedelta(days=after.auto_rotate_days)
                                              if after.auto_rotate_days else None)
                    cifer.expiring_notified_for = None  # a new date earns a new notice
            if changed:
                cifer.updated_at = utcnow()
                await self._audit.append(session, caller.entry(
                    "cifer.update", "success", cifer_id=cifer.id, key_version=cifer.current_version,
                    details={"changed": changed}))
            return await self._detail(session, cifer)

    async def revoke(self, caller: Caller, cifer_id: str, *, confirmed: bool, expect_version: int | None = None,
                     details: dict[str, Any] | None = None) -> datetime.datetime:
        """For good: `confirmed` is the caller's explicit yes, without which nothing happens; with
        `expect_version`, only while that is still the current version. `details` go into the audit
        record. Returns when it was revoked."""
        if not confirmed:
            raise errors.Unconfirmed()
        now = utcnow()
        async with self._sessions.begin() as session:
            cifer = await self._visible(session, caller, cifer_id, for_update=True)
            self._check_manager(caller, cifer)
            # An admin may revoke whatever the policy says: revoking a compromised key fails safe.
            self._check_usable(cifer, "revoke", policy_override=caller.principal.is_admin)
            if expect_version is not None and expect_version != cifer.current_version:
                raise errors.StaleConfirmation("the confirmation names another key version than the current one; "
                                               "read the key again", key_version=cifer.current_version)
            cifer.status, cifer.revoked_at, cifer.updated_at, cifer.next_rotation_at = "revoked", now, now, None
            await self._audit.append(session, caller.entry("revoke", "success", cifer_id=cifer.id,
                                                           details=details or {}))
            await events.emit(session, "cifer.revoked", owner_id=cifer.owner_id,
                              data={"cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id})
        if self._seeds is not None:
            self._seeds.drop(cifer.id)
        return now

    async def public_key(self, cifer_id: str) -> PublicKey:
        """Seed §4.7, unauthenticated: a sidecar needs only this to encrypt. A read, never a write: a
        fetch is not a use (sidecars report their encryptions, usage.py)."""
        async with self._sessions.begin() as session:
            cifer = await self._load(session, cifer_id)
            if cifer is None:
                raise errors.NotFound(cifer_id=cifer_id)
            self._check_usable(cifer, "encrypt")
            version = await self._current_version(session, cifer)
            return PublicKey(cifer_id=cifer.id, encapsulation_key=encapsulation_key(cifer, version),
                             key_version=version.version, algorithm=cifer.suite, valid_until=cifer.next_rotation_at,
                             aead=cifer.aead, expires_at=cifer.expires_at)
