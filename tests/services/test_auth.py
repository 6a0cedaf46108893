"""Signing in: generic failures, throttling in the database, rehash on login, device sessions."""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time

import pytest
from passlib.hash import bcrypt
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from ecomdesk.db.models import AuditEntry, DeviceSession, User, UserProfile
from ecomdesk.services.auth import EVERYONE, GENERIC_FAILURE, token_hash
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from tests.services.conftest import PASSWORD, FakeClock, MakeUser, Staff


def _count(engine: Engine, email: str) -> tuple[int, bool]:
    with engine.connect() as conn:
        count, locked = conn.execute(
            select(User.failed_login_count, User.locked_at.is_not(None)).where(User.email == email)
        ).one()
    return count, locked


def _audit_actions(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.action, AuditEntry.after).order_by(AuditEntry.id)).all()
    return [(action, (after or {}).get("reason")) for action, after in rows]


def test_sign_in_matches_email_case_insensitively_and_records_last_login(
    services: Services, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    make_user("manager", email="Mia.Manager@Shop.example")
    clock.advance(hours=1)
    signed_in = services.auth.authenticate("  mia.manager@SHOP.EXAMPLE ", PASSWORD)
    assert signed_in.actor.email == "Mia.Manager@Shop.example"
    assert signed_in.actor.role == "manager"
    assert "inventory.write" in signed_in.actor.permissions
    assert signed_in.token is None
    with engine.connect() as conn:
        last = conn.scalar(select(User.last_login_at).where(User.email == "Mia.Manager@Shop.example"))
    assert last == clock.now


def test_unknown_email_and_wrong_password_get_the_same_message(
    services: Services, make_user: MakeUser, engine: Engine
) -> None:
    make_user(email="known@shop.example")
    with pytest.raises(AuthenticationError) as unknown:
        services.auth.authenticate("nobody@shop.example", PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        services.auth.authenticate("known@shop.example", PASSWORD + "!")
    assert unknown.value.message == wrong.value.message == GENERIC_FAILURE
    assert unknown.value.retry_after is None and wrong.value.retry_after is None
    # Both failures are audited, with the reason the user is not told.
    assert _audit_actions(engine)[-2:] == [
        ("auth.login_failed", "unknown_email"),
        ("auth.login_failed", "wrong_password"),
    ]


def test_unknown_email_takes_about_as_long_as_a_wrong_password(
    services: Services, make_user: MakeUser
) -> None:
    make_user(email="known@shop.example")

    def timed(email: str) -> float:
        started = time.perf_counter()
        with pytest.raises(AuthenticationError):
            services.auth.authenticate(email, "not the password at all")
        return time.perf_counter() - started

    # Alternate the two kinds so drift in machine load hits both; stay under the throttle (5).
    known, unknown = [], []
    for round_ in range(4):
        unknown.append(timed(f"ghost{round_}@shop.example"))
        known.append(timed("known@shop.example"))
    ratio = statistics.mean(unknown) / statistics.mean(known)
    # Without the dummy hash check the unknown path is ~50x faster (no argon2 at all).
    assert 0.5 < ratio < 2.0, (known, unknown)


def test_inactive_user_is_refused_even_with_the_right_password(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    someone = make_user(email="gone@shop.example")
    services.users.set_active(staff.admin, someone.user_id, False)
    with pytest.raises(AuthenticationError) as info:
        services.auth.authenticate("gone@shop.example", PASSWORD)
    assert "deactivated" in info.value.message and info.value.disabled
    # and a wrong password on an inactive account still says only the generic message
    with pytest.raises(AuthenticationError) as wrong:
        services.auth.authenticate("gone@shop.example", "wrong wrong wrong wrong")
    assert wrong.value.message == GENERIC_FAILURE


def test_after_five_failures_each_attempt_waits_longer_and_a_good_login_clears_the_count(
    services: Services, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    make_user(email="target@shop.example")
    for attempt in range(1, 5):
        with pytest.raises(AuthenticationError) as info:
            services.auth.authenticate("target@shop.example", f"guess number {attempt:04}")
        assert info.value.retry_after is None
    with pytest.raises(AuthenticationError) as fifth:
        services.auth.authenticate("target@shop.example", "guess number 0005")
    assert fifth.value.retry_after == 1.0
    assert _count(engine, "target@shop.example") == (5, False)

    # Even the right password is refused during the wait, and the refusal is not counted.
    with pytest.raises(AuthenticationError) as waiting:
        services.auth.authenticate("target@shop.example", PASSWORD)
    assert waiting.value.retry_after == 1.0 and "try again in 1 second." in waiting.value.message
    assert _count(engine, "target@shop.example") == (5, False)

    delays = []
    for attempt in range(6, 12):
        clock.advance(seconds=1000)
        with pytest.raises(AuthenticationError) as info:
            services.auth.authenticate("target@shop.example", f"guess number {attempt:04}")
        delays.append(info.value.retry_after)
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]

    clock.advance(seconds=63)
    with pytest.raises(AuthenticationError):
        services.auth.authenticate("target@shop.example", PASSWORD)  # 1 s too early
    clock.advance(seconds=1)
    services.auth.authenticate("target@shop.example", PASSWORD)
    assert _count(engine, "target@shop.example") == (0, False)


def test_the_delay_is_capped_at_fifteen_minutes(
    services: Services, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    make_user(email="target@shop.example")
    with engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.email == "target@shop.example")
            .values(failed_login_count=40, last_failed_login_at=clock.now)
        )
    clock.advance(seconds=899)
    with pytest.raises(AuthenticationError) as info:
        services.auth.authenticate("target@shop.example", PASSWORD)
    assert info.value.retry_after == 1.0
    clock.advance(seconds=1)
    with pytest.raises(AuthenticationError) as wrong:
        services.auth.authenticate("target@shop.example", "still guessing away")
    assert wrong.value.retry_after == 900.0 and "try again in 15 minutes" in wrong.value.message


def test_the_hundredth_failure_disables_the_account_until_an_admin_unlocks_it(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    make_user(email="target@shop.example")
    with engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.email == "target@shop.example")
            .values(failed_login_count=99, last_failed_login_at=clock.now)
        )
    clock.advance(hours=1)
    with pytest.raises(AuthenticationError) as info:
        services.auth.authenticate("target@shop.example", "guess one hundred")
    assert info.value.disabled and "disabled" in info.value.message
    assert _count(engine, "target@shop.example") == (100, True)

    clock.advance(days=30)  # time alone does not help
    with pytest.raises(AuthenticationError) as still:
        services.auth.authenticate("target@shop.example", PASSWORD)
    assert still.value.disabled

    target_id = services.users.list_users(staff.admin, _query("target@")).rows[0].id
    services.users.unlock(staff.admin, target_id)
    services.auth.authenticate("target@shop.example", PASSWORD)
    assert _count(engine, "target@shop.example") == (0, False)


def test_throttling_survives_a_new_app_instance(
    engine: Engine, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user(email="target@shop.example")
    first = Services.from_context(ServiceContext(engine, clock=clock))
    for n in range(5):
        with pytest.raises(AuthenticationError):
            first.auth.authenticate("target@shop.example", f"wrong password {n:05}")
    restarted = Services.from_context(ServiceContext(engine, clock=clock))
    with pytest.raises(AuthenticationError) as info:
        restarted.auth.authenticate("target@shop.example", PASSWORD)
    assert info.value.retry_after == 1.0


def test_parallel_wrong_guesses_are_each_counted(
    services: Services, make_user: MakeUser, engine: Engine
) -> None:
    make_user(email="target@shop.example")
    barrier = threading.Barrier(4)
    errors: list[AuthenticationError] = []

    def guess(n: int) -> None:
        barrier.wait()
        try:
            services.auth.authenticate("target@shop.example", f"parallel guess {n:05}")
        except AuthenticationError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 4
    assert _count(engine, "target@shop.example") == (4, False)


def test_a_bcrypt_hash_from_the_old_system_verifies_and_becomes_argon2id(
    services: Services, make_user: MakeUser, engine: Engine
) -> None:
    make_user(email="legacy@shop.example")
    with engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.email == "legacy@shop.example")
            .values(password_hash=bcrypt.using(rounds=4).hash(PASSWORD))
        )
    services.auth.authenticate("legacy@shop.example", PASSWORD)
    with engine.connect() as conn:
        stored = conn.scalar(select(User.password_hash).where(User.email == "legacy@shop.example"))
    assert stored is not None and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    services.auth.authenticate("legacy@shop.example", PASSWORD)  # and the new hash works


def test_new_hashes_are_argon2id_at_owasp_parameters(make_user: MakeUser, engine: Engine) -> None:
    make_user(email="fresh@shop.example")
    with engine.connect() as conn:
        stored = conn.scalar(select(User.password_hash).where(User.email == "fresh@shop.example"))
    assert stored is not None and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


# -- device sessions --------------------------------------------------------------------------


def test_remember_me_returns_a_256_bit_token_of_which_only_a_hash_is_stored(
    services: Services, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    make_user(email="mem@shop.example")
    signed_in = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True, device_name="Till 2")
    token = signed_in.token
    assert token is not None and token.startswith("ecd1_")
    assert len(token.removeprefix("ecd1_")) >= 43  # 32 random bytes, base64url
    assert token not in repr(signed_in)
    with Session(engine) as session:
        row = session.scalars(select(DeviceSession)).one()
    assert row.token_hash == token_hash(token) and token not in row.token_hash
    assert row.device_name == "Till 2"
    assert row.expires_at == clock.now + dt.timedelta(days=30)
    assert signed_in.actor.session_id == row.id

    clock.advance(days=3)
    resumed = services.auth.resume(token)
    assert resumed.actor.user_id == signed_in.actor.user_id
    assert resumed.actor.session_id == row.id
    listed = services.auth.list_sessions(resumed.actor)
    assert [(s.device_name, s.current, s.last_used_at) for s in listed] == [("Till 2", True, clock.now)]


def test_an_expired_token_fails(services: Services, make_user: MakeUser, clock: FakeClock) -> None:
    make_user(email="mem@shop.example")
    token = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True).token
    assert token is not None
    clock.advance(days=30)
    with pytest.raises(AuthenticationError, match="expired or was revoked"):
        services.auth.resume(token)


def test_a_made_up_token_fails(services: Services) -> None:
    with pytest.raises(AuthenticationError):
        services.auth.resume("ecd1_" + "A" * 43)


def test_a_revoked_session_fails_to_resume_and_its_app_is_signed_out_at_the_next_call(
    services: Services, make_user: MakeUser
) -> None:
    make_user(email="mem@shop.example")
    laptop = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True, device_name="Laptop")
    desk = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True, device_name="Desk")
    assert laptop.token and desk.token
    services.auth.revoke_session(desk.actor, laptop.actor.session_id or 0)
    with pytest.raises(AuthenticationError):
        services.auth.resume(laptop.token)
    with pytest.raises(AuthenticationError, match="sign-in has ended"):
        services.auth.list_sessions(laptop.actor)
    assert [s.device_name for s in services.auth.list_sessions(desk.actor)] == ["Desk"]


def test_sign_out_revokes_the_current_device_session(services: Services, make_user: MakeUser) -> None:
    make_user(email="mem@shop.example")
    signed_in = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True)
    assert signed_in.token
    services.auth.sign_out(signed_in.actor)
    with pytest.raises(AuthenticationError):
        services.auth.resume(signed_in.token)


def test_a_deactivated_users_token_fails(services: Services, staff: Staff, make_user: MakeUser) -> None:
    make_user(email="mem@shop.example")
    signed_in = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True)
    assert signed_in.token
    # Even if the session row were still live, the inactive account refuses it.
    services.users.set_active(staff.admin, signed_in.actor.user_id, False)
    with pytest.raises(AuthenticationError):
        services.auth.resume(signed_in.token)


def test_users_see_and_revoke_only_their_own_sessions_unless_they_manage_sessions(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    make_user(email="mem@shop.example")
    mine = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True, device_name="Mine")
    other = services.auth.authenticate(staff.viewer.email, PASSWORD, remember=True, device_name="Vic's")
    assert other.actor.session_id is not None
    with pytest.raises(PermissionDenied):
        services.auth.list_sessions(mine.actor, other.actor.user_id)
    with pytest.raises(PermissionDenied):
        services.auth.revoke_session(mine.actor, other.actor.session_id)
    with pytest.raises(NotFound):
        services.auth.revoke_session(mine.actor, 999_999)
    # an admin sees everyone's, and revokes anyone's
    everyone = services.auth.list_sessions(staff.admin, EVERYONE)
    assert {s.device_name for s in everyone} == {"Mine", "Vic's"}
    assert services.auth.revoke_user_sessions(staff.admin, other.actor.user_id) == 1
    assert services.auth.list_sessions(staff.admin, other.actor.user_id) == []
    ended = services.auth.list_sessions(staff.admin, other.actor.user_id, include_ended=True)
    assert [s.revoked_at is not None for s in ended] == [True]


def test_changing_the_password_revokes_the_other_sessions_but_keeps_this_one(
    services: Services, make_user: MakeUser
) -> None:
    make_user(email="mem@shop.example")
    here = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True, device_name="Here")
    there = services.auth.authenticate("mem@shop.example", PASSWORD, remember=True, device_name="There")
    assert here.token and there.token
    new = "a brand new passphrase for 2027"
    assert services.auth.change_password(here.actor, PASSWORD, new) == 1
    services.auth.resume(here.token)
    with pytest.raises(AuthenticationError):
        services.auth.resume(there.token)
    with pytest.raises(AuthenticationError):
        services.auth.authenticate("mem@shop.example", PASSWORD)
    services.auth.authenticate("mem@shop.example", new)


def test_changing_the_password_checks_the_current_one_and_the_policy(
    services: Services, make_user: MakeUser
) -> None:
    me = make_user(email="mem@shop.example", first_name="Mem", last_name="Berger")
    with pytest.raises(ValidationError) as wrong:
        services.auth.change_password(me, "not my password at all", "a brand new passphrase")
    assert wrong.value.fields == {"current_password": "This is not your current password."}
    with pytest.raises(ValidationError) as short:
        services.auth.change_password(me, PASSWORD, "too short")
    assert "at least 15 characters" in short.value.fields["new_password"]
    with pytest.raises(ValidationError) as same:
        services.auth.change_password(me, PASSWORD, PASSWORD)
    assert "different" in same.value.fields["new_password"]
    with pytest.raises(ValidationError) as personal:
        services.auth.change_password(me, PASSWORD, "mem.berger@shop.example")
    assert "email address or your name" in personal.value.fields["new_password"]
    services.auth.authenticate("mem@shop.example", PASSWORD)  # nothing changed


def test_a_user_with_a_temporary_password_may_only_change_it(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    target = make_user("manager", email="temp@shop.example")
    temporary = services.users.reset_password(staff.admin, target.user_id)
    signed_in = services.auth.authenticate("temp@shop.example", temporary)
    assert signed_in.must_change_password
    with pytest.raises(PermissionDenied, match="choose a new password first"):
        services.users.list_users(signed_in.actor, _query(""))
    services.auth.change_password(signed_in.actor, temporary, "my own passphrase from now on")
    after = services.auth.authenticate("temp@shop.example", "my own passphrase from now on")
    assert not after.must_change_password
    services.users.list_users(after.actor, _query(""))


def test_profile_row_is_required_for_sign_in_and_missing_one_is_not_a_crash(
    services: Services, make_user: MakeUser, engine: Engine
) -> None:
    make_user(email="odd@shop.example")
    with engine.begin() as conn:
        uid = conn.scalar(select(User.id).where(User.email == "odd@shop.example"))
        conn.execute(delete(UserProfile).where(UserProfile.user_id == uid))
    with pytest.raises(Exception) as info:
        services.auth.authenticate("odd@shop.example", PASSWORD)
    assert isinstance(info.value, AuthenticationError)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(DeviceSession)) == 0


def _query(search: str) -> ListQuery:
    return ListQuery(search=search)
