"""Signing in, remembered devices and changing one's own password.

Throttling lives on the user row, so every app and the CLI share it and a restart resets nothing:
the row is locked (`SELECT … FOR UPDATE`) while an attempt is judged, so parallel guesses are
counted one by one. An unknown email costs the same password check as a known one, so response
times don't tell which addresses have accounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Final

from sqlalchemy import func, select, update

from ecomdesk.db.models import DeviceSession, User, UserProfile
from ecomdesk.services.access import require_actor as _require_actor
from ecomdesk.services.access import revoke_live_sessions
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork, load_actor
from ecomdesk.services.errors import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    ReadOnlyError,
    ValidationError,
)
from ecomdesk.services.passwords import hash_password, verify_password
from ecomdesk.services.policy import check_new_password
from ecomdesk.services.settings import read_int_settings

log = logging.getLogger(__name__)

GENERIC_FAILURE: Final = "The email address or the password is not right."
TOKEN_PREFIX: Final = "ecd1_"
MAX_DEVICE_NAME: Final = 200
#: `list_sessions(actor, EVERYONE)`: every user's remembered devices (needs `sessions.manage`).
EVERYONE: Final = -1


@cache
def _dummy_hash() -> str:
    """A hash with the current parameters, checked when the email is unknown (equal timing)."""
    return hash_password(secrets.token_urlsafe(24))


def token_hash(token: str) -> str:
    """What the database keeps of a device token: its SHA-256 (the token itself is 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Throttle:
    """The shop's throttling settings, read once per attempt."""

    free: int
    max_delay: int
    disable_after: int

    def delay(self, failures: int) -> int:
        """Seconds to wait after `failures` failures in a row: none for the first few, then doubling."""
        if failures < self.free:
            return 0
        return int(min(self.max_delay, 2 ** min(failures - self.free, 30)))


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in. `token` is set only when the device is to be remembered: it is the one
    thing the app keeps (in the OS keyring), and it is shown here once."""

    actor: Actor
    token: str | None
    must_change_password: bool

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"SignIn(actor={self.actor.email!r}, token={'<set>' if self.token else None})"


@dataclass(frozen=True)
class DeviceSessionInfo:
    id: int
    user_id: int
    user_email: str
    device_name: str
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    #: The session the asking app itself runs on.
    current: bool

    def active_at(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


class AuthService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- signing in ---------------------------------------------------------------------------

    def authenticate(
        self, email: str, password: str, *, remember: bool = False, device_name: str = ""
    ) -> SignIn:
        """Check the password; with `remember`, also open a device session and return its token.

        Raises `AuthenticationError` with one generic message for unknown emails and wrong
        passwords; `retry_after` says how long a throttled account must wait.
        """
        wanted = email.strip().lower()
        failure: AuthenticationError | None = None
        result: SignIn | None = None
        with self.ctx.write(None, None) as uow:
            session = uow.session
            # Read by every attempt, known email or not, so both paths run the same queries.
            rules = _Throttle(
                *read_int_settings(
                    session,
                    "auth.lockout_after_failures",
                    "auth.max_delay_seconds",
                    "auth.disable_after_failures",
                )
            )
            user = session.scalars(
                select(User).where(func.lower(User.email) == wanted).with_for_update(of=User, key_share=True)
            ).one_or_none()
            if user is None:
                verify_password(password, _dummy_hash())
                self._audit_failure(uow, None, wanted, "unknown_email")
                failure = AuthenticationError(GENERIC_FAILURE)
            else:
                failure, result = self._judge(uow, rules, user, password, remember, device_name)
        if failure is not None:
            raise failure
        assert result is not None
        return result

    def _judge(
        self, uow: UnitOfWork, rules: _Throttle, user: User, password: str, remember: bool, device_name: str
    ) -> tuple[AuthenticationError | None, SignIn | None]:
        session, now = uow.session, uow.now
        if user.locked_at is not None:
            verify_password(password, _dummy_hash())
            self._audit_failure(uow, user, user.email, "disabled")
            return AuthenticationError(
                "This account has been disabled after too many failed sign-ins. "
                "Ask an administrator to unlock it.",
                disabled=True,
            ), None
        wait = rules.delay(user.failed_login_count)
        if wait and user.last_failed_login_at is not None:
            ready = user.last_failed_login_at + dt.timedelta(seconds=wait)
            if now < ready:
                verify_password(password, _dummy_hash())
                self._audit_failure(uow, user, user.email, "throttled")
                return self._throttled((ready - now).total_seconds()), None
        ok, new_hash = verify_password(password, user.password_hash)
        if not ok:
            user.failed_login_count += 1
            user.last_failed_login_at = now
            if user.failed_login_count >= rules.disable_after:
                user.locked_at = now
            self._audit_failure(uow, user, user.email, "wrong_password")
            wait = rules.delay(user.failed_login_count)
            if user.locked_at is not None:
                return AuthenticationError(
                    "Too many failed sign-ins: this account is now disabled. "
                    "Ask an administrator to unlock it.",
                    disabled=True,
                ), None
            if wait:
                return self._throttled(wait), None
            return AuthenticationError(GENERIC_FAILURE), None
        profile = session.scalars(select(UserProfile).where(UserProfile.user_id == user.id)).one_or_none()
        if profile is None or not profile.is_active:
            self._audit_failure(uow, user, user.email, "inactive")
            return AuthenticationError(
                "This account is deactivated. Ask an administrator to reactivate it.", disabled=True
            ), None
        if new_hash:
            user.password_hash = new_hash
        user.failed_login_count = 0
        user.last_failed_login_at = None
        user.last_login_at = now
        token = None
        device_id = None
        if remember:
            token, device_id = self._open_device_session(uow, user.id, device_name)
        session.flush()
        uow.actor = load_actor(session, user.id, device_id, now)
        uow.audit(
            "auth.login",
            "user",
            user.id,
            after={"remember": remember, "rehashed": bool(new_hash), "device_session_id": device_id},
        )
        return None, SignIn(uow.actor, token, user.must_change_password)

    @staticmethod
    def _throttled(seconds: float) -> AuthenticationError:
        whole = max(1, round(seconds))
        if whole >= 120:
            when = f"{round(whole / 60)} minutes"
        else:
            when = "1 second" if whole == 1 else f"{whole} seconds"
        return AuthenticationError(
            f"{GENERIC_FAILURE} Too many failed attempts: try again in {when}.", retry_after=float(whole)
        )

    @staticmethod
    def _audit_failure(uow: UnitOfWork, user: User | None, email: str, reason: str) -> None:
        uow.audit(
            "auth.login_failed",
            "user",
            user.id if user else None,
            after={"email": email[:254], "reason": reason},
            actor_email=email[:254],
        )
        log.info("sign-in refused (%s)", reason)

    def _open_device_session(self, uow: UnitOfWork, user_id: int, device_name: str) -> tuple[str, int]:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        [days] = read_int_settings(uow.session, "sessions.lifetime_days")
        name = " ".join(device_name.split())[:MAX_DEVICE_NAME] or "Unnamed device"
        device = DeviceSession(
            user_id=user_id,
            token_hash=token_hash(token),
            device_name=name,
            created_at=uow.now,
            last_used_at=uow.now,
            expires_at=uow.now + dt.timedelta(days=max(1, days)),
        )
        uow.session.add(device)
        uow.session.flush()
        return token, device.id

    def resume(self, token: str) -> SignIn:
        """Sign in again with a remembered device's token."""
        failure: AuthenticationError | None = None
        result: SignIn | None = None
        with self.ctx.write(None, None) as uow:
            device = uow.session.scalars(
                select(DeviceSession)
                .where(DeviceSession.token_hash == token_hash(token))
                .with_for_update(key_share=True)
            ).one_or_none()
            if device is None or device.revoked_at is not None or device.expires_at <= uow.now:
                failure = AuthenticationError(
                    "This computer's remembered sign-in has expired or was revoked. Please sign in."
                )
            else:
                try:
                    actor = load_actor(uow.session, device.user_id, device.id, uow.now)
                except AuthenticationError as exc:
                    failure = exc
                else:
                    device.last_used_at = uow.now
                    uow.session.execute(
                        update(User).where(User.id == actor.user_id).values(last_login_at=uow.now)
                    )
                    uow.actor = actor
                    uow.audit("auth.resume", "device_session", device.id)
                    result = SignIn(actor, None, actor.must_change_password)
        if failure is not None:
            raise failure
        assert result is not None
        return result

    def sign_out(self, actor: Actor) -> None:
        """End the actor's remembered device session, if it runs on one."""
        if self.ctx.read_only:
            raise ReadOnlyError("A snapshot has no sign-in to end: close the window instead.")
        if actor.session_id is None:
            return
        with self.ctx.write(None, None) as uow:
            device = uow.session.get(DeviceSession, actor.session_id, with_for_update={"key_share": True})
            if device is not None and device.user_id == actor.user_id and device.revoked_at is None:
                device.revoked_at = uow.now
                uow.audit("auth.logout", "device_session", device.id, actor_email=actor.email)

    # -- own password -----------------------------------------------------------------------

    def change_password(self, actor: Actor, current_password: str, new_password: str) -> int:
        """Replace the actor's password; ends their other remembered devices. Returns how many."""
        with self.ctx.write(actor, None) as uow:
            me = _require_actor(uow)
            user = uow.session.get(User, me.user_id, with_for_update={"key_share": True})
            if user is None:
                raise NotFound("Your account no longer exists.")
            ok, _ = verify_password(current_password, user.password_hash)
            if not ok:
                raise ValidationError({"current_password": "This is not your current password."})
            if new_password == current_password:
                raise ValidationError({"new_password": "Choose a password different from the current one."})
            profile = uow.session.scalars(select(UserProfile).where(UserProfile.user_id == user.id)).one()
            check_new_password(
                new_password,
                email=user.email,
                names=(profile.first_name, profile.last_name),
                field="new_password",
            )
            user.password_hash = hash_password(new_password)
            user.must_change_password = False
            revoked = revoke_live_sessions(uow.session, user.id, uow.now, keep=me.session_id)
            uow.audit("user.password_changed", "user", user.id, after={"sessions_revoked": revoked})
            return revoked

    # -- remembered devices -----------------------------------------------------------------

    def list_sessions(
        self, actor: Actor, user_id: int | None = None, *, include_ended: bool = False
    ) -> list[DeviceSessionInfo]:
        """The actor's own devices, or (with `sessions.manage`) another user's or `EVERYONE`'s."""
        with self.ctx.read(actor, None) as uow:
            me = _require_actor(uow)
            target = me.user_id if user_id is None else user_id
            if target != me.user_id and not me.can("sessions.manage"):
                raise PermissionDenied("sessions.manage")
            stmt = (
                select(DeviceSession, User.email)
                .join(User, User.id == DeviceSession.user_id)
                .order_by(DeviceSession.last_used_at.desc(), DeviceSession.id.desc())
            )
            if target != EVERYONE:
                stmt = stmt.where(DeviceSession.user_id == target)
            if not include_ended:
                stmt = stmt.where(DeviceSession.revoked_at.is_(None), DeviceSession.expires_at > uow.now)
            return [
                DeviceSessionInfo(
                    d.id,
                    d.user_id,
                    email,
                    d.device_name,
                    d.created_at,
                    d.last_used_at,
                    d.expires_at,
                    d.revoked_at,
                    d.id == me.session_id,
                )
                for d, email in uow.session.execute(stmt)
            ]

    def revoke_session(self, actor: Actor, session_id: int) -> None:
        """End one remembered device: one's own, or anyone's with `sessions.manage`."""
        with self.ctx.write(actor, None) as uow:
            me = _require_actor(uow)
            device = uow.session.get(DeviceSession, session_id, with_for_update={"key_share": True})
            if device is None or (device.user_id != me.user_id and not me.can("sessions.manage")):
                if device is not None:
                    raise PermissionDenied("sessions.manage")
                raise NotFound("That remembered device no longer exists.")
            if device.revoked_at is None:
                device.revoked_at = uow.now
                uow.audit(
                    "session.revoked",
                    "device_session",
                    device.id,
                    after={"user_id": device.user_id, "device_name": device.device_name},
                )

    def revoke_user_sessions(self, actor: Actor, user_id: int) -> int:
        """End every remembered device of a user (one's own, or anyone's with `sessions.manage`)."""
        with self.ctx.write(actor, None) as uow:
            me = _require_actor(uow)
            if user_id != me.user_id and not me.can("sessions.manage"):
                raise PermissionDenied("sessions.manage")
            if uow.session.get(User, user_id) is None:
                raise NotFound("That user no longer exists.")
            count = revoke_live_sessions(uow.session, user_id, uow.now)
            uow.audit("session.revoked_all", "user", user_id, after={"count": count})
            return count
