"""Staff accounts: creating, listing, editing, (de)activating, resetting and deleting them, the
guards that keep the shop administrable, and pictures.

Who may call which method is proven in `test_permission_matrix.py`; these tests are about what the
calls do — to the database and to the audit trail — when they are allowed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import threading
import time
from collections.abc import Callable

import pytest
from PIL import Image
from sqlalchemy import Engine, func, select, text, update

from ecomdesk.db.base import Base
from ecomdesk.db.catalog import PERMISSIONS
from ecomdesk.db.models import AuditEntry, DeviceSession, FileBlob, Role, StoredFile, User, UserProfile
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ServiceError,
    ValidationError,
)
from ecomdesk.services.files import Upload
from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.policy import password_problem
from ecomdesk.services.registry import Services
from ecomdesk.services.users import NewAccount, ProfileFields, UserFields, UserRecord
from tests.services.conftest import (
    PASSWORD,
    FakeClock,
    MakeUser,
    Staff,
    audit_entries,
    png,
    role_id,
    row_count,
)

#: Four groups of five characters from the unambiguous alphabet (no 0/O, 1/l/I).
TEMPORARY_PASSWORD = re.compile(r"[a-km-zA-HJ-NP-Z2-9]{5}(-[a-km-zA-HJ-NP-Z2-9]{5}){3}")
#: Every right a user in the viewer role has, plus managing users: enough to manage viewers, not
#: managers (who also write inventory) nor admins.
HELPDESK = frozenset({"users.read", "users.write", "inventory.read", "analytics.read", "reports.read"})
RED, BLUE = (200, 30, 30), (30, 30, 200)


def _fields(
    engine: Engine,
    email: str,
    first_name: str = "Nina",
    last_name: str = "Novak",
    role: str = "viewer",
    phone: str | None = None,
    address: str | None = None,
) -> UserFields:
    return UserFields(email, first_name, last_name, role_id(engine, role), phone, address)


def _form(record: UserRecord) -> UserFields:
    """The edit form as it opens on `record`."""
    return UserFields(
        record.email, record.first_name, record.last_name, record.role_id, record.phone, record.address
    )


def _emails(services: Services, actor: Actor, query: ListQuery) -> list[str]:
    return [row.email for row in services.users.list_users(actor, query).rows]


# -- creating ---------------------------------------------------------------------------------


def test_create_without_a_password_returns_a_frozen_record_and_a_temporary_password_to_change(
    services: Services, staff: Staff, engine: Engine
) -> None:
    fields = _fields(engine, " nina@shop.example ", " Nina ", " Novak ", "manager", " +49 30 1234567 ", "  ")
    account = services.users.create_user(staff.admin, fields)

    assert isinstance(account, NewAccount)
    user = account.user
    assert isinstance(user, UserRecord) and not isinstance(user, Base)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.email = "someone@else.example"  # type: ignore[misc]
    assert (user.email, user.first_name, user.last_name, user.full_name) == (
        "nina@shop.example",
        "Nina",
        "Novak",
        "Nina Novak",
    )
    assert (user.role, user.role_id) == ("manager", role_id(engine, "manager"))
    assert (user.phone, user.address, user.avatar_file_id, user.last_login_at) == (
        "+49 30 1234567",
        None,
        None,
        None,
    )
    assert user.is_active and not user.locked and user.must_change_password

    temporary = account.temporary_password
    assert temporary is not None and TEMPORARY_PASSWORD.fullmatch(temporary)
    assert len(temporary.replace("-", "")) == 20
    assert password_problem(temporary, email=user.email, names=("Nina", "Novak")) is None
    assert temporary not in repr(account)

    signed_in = services.auth.authenticate("nina@shop.example", temporary)
    assert signed_in.must_change_password and signed_in.actor.user_id == user.id
    # Two accounts never get the same temporary password.
    other = services.users.create_user(staff.admin, _fields(engine, "otto@shop.example", "Otto"))
    assert other.temporary_password not in (None, temporary)


def test_create_with_a_password_applies_the_password_policy_on_the_password_field(
    services: Services, staff: Staff, engine: Engine
) -> None:
    fields = _fields(engine, "nina.novak@shop.example")
    with pytest.raises(ValidationError) as short:
        services.users.create_user(staff.admin, fields, password="too short")
    assert list(short.value.fields) == ["password"]
    assert "at least 15 characters" in short.value.fields["password"]
    with pytest.raises(ValidationError) as personal:
        services.users.create_user(staff.admin, fields, password="nina.novak@shop.example")
    assert "email address or your name" in personal.value.fields["password"]
    assert row_count(engine, User) == 3

    account = services.users.create_user(staff.admin, fields, password="a sturdy passphrase of her own")
    assert account.temporary_password is None and not account.user.must_change_password
    signed_in = services.auth.authenticate("nina.novak@shop.example", "a sturdy passphrase of her own")
    assert not signed_in.must_change_password


def test_create_reports_every_invalid_field_at_once_and_writes_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    users, audit = row_count(engine, User), row_count(engine, AuditEntry)
    bad = UserFields("not-an-email", "   ", "x" * 101, 999_999, phone="call me maybe", address="y" * 1001)
    with pytest.raises(ValidationError) as info:
        services.users.create_user(staff.admin, bad, password="short")
    assert info.value.fields == {
        "email": "Enter an email address like name@example.com.",
        "first_name": "Required.",
        "last_name": "At most 100 characters.",
        "phone": "Enter a phone number with 6 to 17 digits, e.g. +49 30 1234567.",
        "address": "At most 1000 characters.",
        "role_id": "Choose one of the existing roles.",
        "password": info.value.fields["password"],
    }
    assert "at least 15 characters" in info.value.fields["password"]
    assert (row_count(engine, User), row_count(engine, AuditEntry)) == (users, audit)


def test_create_refuses_an_email_already_used_in_another_letter_case_and_writes_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    users, audit = row_count(engine, User), row_count(engine, AuditEntry)
    with pytest.raises(ValidationError) as info:
        services.users.create_user(staff.admin, _fields(engine, "  ADA@Shop.Example "))
    assert info.value.fields == {"email": "Another account already uses this email address."}
    assert (row_count(engine, User), row_count(engine, AuditEntry)) == (users, audit)


def test_create_is_audited_without_any_password_or_hash(
    services: Services, staff: Staff, engine: Engine
) -> None:
    account = services.users.create_user(
        staff.admin, _fields(engine, "nina@shop.example", phone="+49 30 1234567")
    )
    (entry,) = [e for e in audit_entries(engine, "user.created") if e.entity_id == str(account.user.id)]
    assert (entry.actor_id, entry.actor_email, entry.entity_type) == (
        staff.admin.user_id,
        "ada@shop.example",
        "user",
    )
    assert entry.before is None
    assert entry.after == {
        "email": "nina@shop.example",
        "first_name": "Nina",
        "last_name": "Novak",
        "role": "viewer",
        "phone": "+49 30 1234567",
        "address": None,
        "is_active": True,
        "avatar_file_id": None,
    }
    with engine.connect() as conn:
        stored_hash = conn.scalar(select(User.password_hash).where(User.id == account.user.id))
    assert account.temporary_password and stored_hash
    dumped = json.dumps([entry.before, entry.after])
    assert "password" not in dumped and account.temporary_password not in dumped and stored_hash not in dumped


# -- listing ----------------------------------------------------------------------------------


def test_list_counts_every_match_and_returns_the_asked_window(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    for name in ("bea", "cem", "dan", "eva"):
        make_user(email=f"{name}@shop.example")
    everyone = ["ada", "bea", "cem", "dan", "eva", "max", "vic"]

    first = services.users.list_users(staff.admin, ListQuery(limit=3))
    assert [r.email.split("@")[0] for r in first.rows] == everyone[:3]
    assert (first.total, first.offset, first.has_more) == (7, 0, True)

    middle = services.users.list_users(staff.admin, ListQuery(offset=3, limit=3))
    assert [r.email.split("@")[0] for r in middle.rows] == everyone[3:6]
    assert (middle.total, middle.has_more) == (7, True)

    last = services.users.list_users(staff.admin, ListQuery(offset=6, limit=3))
    assert [r.email.split("@")[0] for r in last.rows] == ["vic"]
    assert (last.total, last.has_more) == (7, False)

    beyond = services.users.list_users(staff.admin, ListQuery(offset=20, limit=3))
    assert (beyond.rows, beyond.total, beyond.has_more) == ([], 7, False)


def test_search_matches_email_first_last_and_full_name_ignoring_case(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    make_user(email="q1@shop.example", first_name="Quentin", last_name="Blake")

    def found(search: str) -> set[str]:
        page = services.users.list_users(staff.admin, ListQuery(search=search))
        assert page.total == len(page.rows)
        return {row.email for row in page.rows}

    assert found("ADA@SHOP") == {"ada@shop.example"}
    assert found("quent") == {"q1@shop.example"}  # first name only
    assert found("bLaKe") == {"q1@shop.example"}  # last name only
    assert found("  Quentin blake ") == {"q1@shop.example"}  # "first last", search trimmed
    assert found("max manager") == {"max@shop.example"}
    assert found("tin bla") == {"q1@shop.example"}  # across the space between the names
    assert found("shop.example") == {
        "ada@shop.example",
        "max@shop.example",
        "vic@shop.example",
        "q1@shop.example",
    }
    assert found("nobody at all") == set()


def test_percent_and_underscore_in_a_search_are_taken_literally(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    make_user(email="a_b@shop.example", first_name="Under", last_name="Score")
    make_user(email="axb@shop.example", first_name="Plain", last_name="Letters")
    make_user(email="pct@shop.example", first_name="Full", last_name="Hundred100%")
    make_user(email="num@shop.example", first_name="Big", last_name="Hundred1000")

    def found(search: str) -> set[str]:
        return set(_emails(services, staff.admin, ListQuery(search=search)))

    assert found("a_b") == {"a_b@shop.example"}
    assert found("_") == {"a_b@shop.example"}
    assert found("%") == {"pct@shop.example"}
    assert found("100%") == {"pct@shop.example"}
    assert found("\\") == set()


def test_list_filters_by_role_active_and_locked(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    gone = make_user(email="gone@shop.example")
    stuck = make_user(email="stuck@shop.example")
    services.users.set_active(staff.admin, gone.user_id, False)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == stuck.user_id).values(locked_at=clock.now))
    viewer = role_id(engine, "viewer")

    def found(**filters: object) -> set[str]:
        page = services.users.list_users(staff.admin, ListQuery(filters=filters))
        assert page.total == len(page.rows)
        return {row.email.split("@")[0] for row in page.rows}

    assert found(role_id=viewer) == {"vic", "gone", "stuck"}
    assert found(active=False) == {"gone"}
    assert found(active=True) == {"ada", "max", "vic", "stuck"}
    assert found(locked=True) == {"stuck"}
    assert found(locked=False) == {"ada", "max", "vic", "gone"}
    assert found(role_id=viewer, active=True, locked=False) == {"vic"}
    assert found(role_id=None, active=None) == {"ada", "max", "vic", "gone", "stuck"}  # None: no filter
    (locked_row,) = services.users.list_users(staff.admin, ListQuery(filters={"locked": True})).rows
    assert locked_row.locked and locked_row.is_active


def test_an_unknown_filter_is_refused(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as info:
        services.users.list_users(staff.admin, ListQuery(filters={"colour": "red", "active": True}))
    assert info.value.fields == {"filters": "Unknown filter: colour."}


def test_every_sort_key_orders_both_ways_with_ties_broken_by_id(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock
) -> None:
    # The staff (ada, max, vic — created and signed in in that order at the same instant), then:
    services.users.create_user(
        staff.admin, _fields(engine, "nel@shop.example", "Bea", "Lopez")
    )  # never signs in
    clock.advance(hours=1)
    services.auth.authenticate("vic@shop.example", PASSWORD)
    clock.advance(hours=1)
    services.auth.authenticate("ada@shop.example", PASSWORD)
    services.users.set_active(staff.admin, staff.manager.user_id, False)

    expected = {
        "email": ["ada", "max", "nel", "vic"],
        "first_name": ["ada", "nel", "max", "vic"],  # Ada, Bea, Max, Vic
        "last_name": ["ada", "nel", "max", "vic"],  # Admin, Lopez, Manager, Viewer
        "name": ["ada", "nel", "max", "vic"],
        "created_at": ["ada", "max", "vic", "nel"],
    }
    for key, ascending in expected.items():
        assert _names(services, staff.admin, SortKey(key)) == ascending, key
        assert _names(services, staff.admin, SortKey(key, descending=True)) == ascending[::-1], key

    # Ties (two viewers; three active accounts) follow the id in the key's own direction.
    assert _names(services, staff.admin, SortKey("role")) == ["ada", "max", "vic", "nel"]
    assert _names(services, staff.admin, SortKey("role", descending=True)) == ["nel", "vic", "max", "ada"]
    assert _names(services, staff.admin, SortKey("is_active")) == ["max", "ada", "vic", "nel"]
    assert _names(services, staff.admin, SortKey("is_active", descending=True)) == [
        "nel",
        "vic",
        "ada",
        "max",
    ]
    # Never signed in sorts last both ways.
    assert _names(services, staff.admin, SortKey("last_login_at")) == ["max", "vic", "ada", "nel"]
    assert _names(services, staff.admin, SortKey("last_login_at", descending=True)) == [
        "ada",
        "vic",
        "max",
        "nel",
    ]
    # Several keys: role, then email backwards within a role.
    assert _names(services, staff.admin, SortKey("role"), SortKey("email", descending=True)) == [
        "ada",
        "max",
        "vic",
        "nel",
    ]


def _names(services: Services, actor: Actor, *sort: SortKey) -> list[str]:
    return [email.split("@")[0] for email in _emails(services, actor, ListQuery(sort=sort))]


def test_paging_by_name_through_namesakes_returns_each_user_exactly_once(
    services: Services, staff: Staff, engine: Engine
) -> None:
    ids = [
        services.users.create_user(
            staff.admin, _fields(engine, f"sam{n:02}@shop.example", "Sam", "Smith"), password=PASSWORD
        ).user.id
        for n in range(25)
    ]
    for descending in (False, True):
        seen: list[int] = []
        pages = []
        for offset in (0, 10, 20):
            query = ListQuery(
                search="sam smith", sort=(SortKey("name", descending),), offset=offset, limit=10
            )
            page = services.users.list_users(staff.admin, query)
            pages.append((len(page.rows), page.total, page.has_more))
            seen += [row.id for row in page.rows]
        assert pages == [(10, 25, True), (10, 25, True), (5, 25, False)]
        assert seen == (sorted(ids, reverse=True) if descending else sorted(ids))


def test_an_unknown_sort_key_or_a_bad_window_is_refused(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as sort:
        services.users.list_users(staff.admin, ListQuery(sort=(SortKey("email"), SortKey("password_hash"))))
    assert sort.value.fields == {"sort": "Cannot sort by password_hash."}
    with pytest.raises(ValidationError) as negative:
        services.users.list_users(staff.admin, ListQuery(offset=-1, limit=0))
    assert set(negative.value.fields) == {"offset", "limit"}
    with pytest.raises(ValidationError) as huge:
        services.users.list_users(staff.admin, ListQuery(limit=5001))
    assert set(huge.value.fields) == {"limit"}
    assert len(services.users.list_users(staff.admin, ListQuery(limit=5000)).rows) == 3


# -- reading one ------------------------------------------------------------------------------


def test_anyone_reads_their_own_account_but_another_needs_users_read(
    services: Services, staff: Staff
) -> None:
    own = services.users.get_user(staff.viewer, staff.viewer.user_id)
    assert (own.email, own.role) == ("vic@shop.example", "viewer")
    with pytest.raises(PermissionDenied):
        services.users.get_user(staff.viewer, staff.admin.user_id)
    assert services.users.get_user(staff.manager, staff.viewer.user_id) == own
    with pytest.raises(NotFound):
        services.users.get_user(staff.manager, 999_999)


# -- editing ----------------------------------------------------------------------------------


def test_update_changes_the_fields_and_audits_before_and_after(
    services: Services, staff: Staff, engine: Engine
) -> None:
    new = _fields(
        engine, " Victor@Shop.example ", " Victor ", "Viewer-Smith", "manager", "+49 30 9876543", "Main St 1"
    )
    record = services.users.update_user(staff.admin, staff.viewer.user_id, new)
    assert (record.email, record.first_name, record.last_name, record.role) == (
        "Victor@Shop.example",
        "Victor",
        "Viewer-Smith",
        "manager",
    )
    assert (record.phone, record.address) == ("+49 30 9876543", "Main St 1")
    assert services.users.get_user(staff.admin, staff.viewer.user_id) == record

    (entry,) = audit_entries(engine, "user.updated")
    assert (entry.entity_id, entry.actor_email) == (str(staff.viewer.user_id), "ada@shop.example")
    assert entry.before is not None and entry.after is not None
    assert {
        k: (entry.before[k], entry.after[k]) for k in entry.after if entry.before[k] != entry.after[k]
    } == {
        "email": ("vic@shop.example", "Victor@Shop.example"),
        "first_name": ("Vic", "Victor"),
        "last_name": ("Viewer", "Viewer-Smith"),
        "role": ("viewer", "manager"),
        "phone": (None, "+49 30 9876543"),
        "address": (None, "Main St 1"),
    }
    services.auth.authenticate("victor@shop.example", PASSWORD)  # signs in under the new address


def test_a_stale_edit_form_is_refused_and_the_other_persons_change_is_kept(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    bob = make_user("admin", email="bob@shop.example", first_name="Bob")
    opened = services.users.get_user(staff.admin, staff.viewer.user_id)
    services.users.update_user(bob, opened.id, dataclasses.replace(_form(opened), last_name="Changed-By-Bob"))

    with pytest.raises(Conflict, match="changed by someone else"):
        services.users.update_user(
            staff.admin, opened.id, dataclasses.replace(_form(opened), first_name="Victoria"), expected=opened
        )
    now = services.users.get_user(staff.admin, opened.id)
    assert (now.first_name, now.last_name) == ("Vic", "Changed-By-Bob")


def test_a_sign_in_or_a_new_picture_meanwhile_is_not_a_conflict(
    services: Services, staff: Staff, clock: FakeClock
) -> None:
    opened = services.users.get_user(staff.admin, staff.viewer.user_id)
    clock.advance(hours=1)
    services.auth.authenticate("vic@shop.example", PASSWORD)
    services.users.set_avatar(staff.viewer, staff.viewer.user_id, png(RED), "me.png")

    saved = services.users.update_user(
        staff.admin, opened.id, dataclasses.replace(_form(opened), first_name="Victoria"), expected=opened
    )
    assert saved.first_name == "Victoria"
    assert saved.last_login_at == clock.now and saved.avatar_file_id is not None


def test_an_invalid_edit_keeps_the_row_unchanged(services: Services, staff: Staff, engine: Engine) -> None:
    before = services.users.get_user(staff.admin, staff.viewer.user_id)
    audit = row_count(engine, AuditEntry)
    bad = dataclasses.replace(_form(before), email="MAX@shop.example", first_name=" ", phone="12")
    with pytest.raises(ValidationError) as info:
        services.users.update_user(staff.admin, before.id, bad)
    assert set(info.value.fields) == {"email", "first_name", "phone"}
    assert info.value.fields["email"] == "Another account already uses this email address."
    assert services.users.get_user(staff.admin, before.id) == before
    assert row_count(engine, AuditEntry) == audit
    # One's own address in another letter case is no clash.
    again = services.users.update_user(
        staff.admin, before.id, dataclasses.replace(_form(before), email="VIC@shop.example")
    )
    assert again.email == "VIC@shop.example"


def test_any_user_edits_their_own_names_phone_and_address(
    services: Services, staff: Staff, engine: Engine
) -> None:
    me = staff.viewer
    record = services.users.update_my_profile(
        me, ProfileFields(" Victoria ", "Viewer", "+44 20 7946 0958", " 1 High St ")
    )
    assert (record.first_name, record.last_name, record.phone, record.address) == (
        "Victoria",
        "Viewer",
        "+44 20 7946 0958",
        "1 High St",
    )
    (entry,) = audit_entries(engine, "user.profile_updated")
    assert (entry.actor_id, entry.entity_id) == (me.user_id, str(me.user_id))
    assert (
        entry.before
        and entry.after
        and (entry.before["first_name"], entry.after["first_name"]) == ("Vic", "Victoria")
    )

    with pytest.raises(ValidationError) as info:
        services.users.update_my_profile(me, ProfileFields("", "x" * 101, "phone"))
    assert set(info.value.fields) == {"first_name", "last_name", "phone"}
    assert services.users.get_user(me, me.user_id) == record


# -- guards -----------------------------------------------------------------------------------


def test_nobody_deletes_or_deactivates_themself(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    make_user("admin", email="bob@shop.example")  # another admin: the last-admin guard is not why
    with pytest.raises(Conflict, match="your own account"):
        services.users.delete_user(staff.admin, staff.admin.user_id)
    with pytest.raises(Conflict, match="your own account"):
        services.users.set_active(staff.admin, staff.admin.user_id, False)
    assert services.users.get_user(staff.admin, staff.admin.user_id).is_active


def test_the_last_active_admin_cannot_be_deleted_deactivated_or_demoted(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    # Someone holding every right without being an admin: only the last-admin guard can refuse.
    services.roles.create_role(staff.admin, "Owner", frozenset(PERMISSIONS))
    owner = make_user("Owner", email="olga@shop.example")
    ada = services.users.get_user(owner, staff.admin.user_id)
    demoted = dataclasses.replace(_form(ada), role_id=role_id(engine, "manager"))
    audit = row_count(engine, AuditEntry)

    calls: list[Callable[[], object]] = [
        lambda: services.users.delete_user(owner, ada.id),
        lambda: services.users.set_active(owner, ada.id, False),
        lambda: services.users.update_user(owner, ada.id, demoted),
        lambda: services.users.update_user(staff.admin, ada.id, demoted),  # demoting herself
    ]
    for call in calls:
        with pytest.raises(Conflict, match="last active administrator"):
            call()
    assert services.users.get_user(owner, ada.id) == ada
    assert row_count(engine, AuditEntry) == audit


def test_of_two_admins_one_may_be_demoted_and_then_the_other_may_not(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    bob = make_user("admin", email="bob@shop.example", first_name="Bob")
    cat = make_user("admin", email="cat@shop.example", first_name="Cat")
    services.users.set_active(staff.admin, cat.user_id, False)  # an inactive admin does not count
    manager = role_id(engine, "manager")

    bob_record = services.users.get_user(staff.admin, bob.user_id)
    services.users.update_user(
        staff.admin, bob.user_id, dataclasses.replace(_form(bob_record), role_id=manager)
    )
    assert services.users.get_user(staff.admin, bob.user_id).role == "manager"

    ada = services.users.get_user(staff.admin, staff.admin.user_id)
    with pytest.raises(Conflict, match="last active administrator"):
        services.users.update_user(staff.admin, ada.id, dataclasses.replace(_form(ada), role_id=manager))
    assert services.users.get_user(staff.admin, ada.id).role == "admin"

    # Once the other admin is back, she may step down.
    services.users.set_active(staff.admin, cat.user_id, True)
    services.users.update_user(staff.admin, ada.id, dataclasses.replace(_form(ada), role_id=manager))
    assert services.users.get_user(staff.admin, ada.id).role == "manager"


def test_two_admins_deactivating_each_other_at_once_leave_exactly_one_active_admin(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    ada = staff.admin
    bob = make_user("admin", email="bob@shop.example", first_name="Bob")
    barrier = threading.Barrier(2)
    outcomes: dict[str, ServiceError | None] = {}

    def deactivate(actor: Actor, target: Actor) -> None:
        barrier.wait()
        try:
            services.users.set_active(actor, target.user_id, False)
        except ServiceError as exc:
            outcomes[actor.email] = exc
        else:
            outcomes[actor.email] = None

    threads = [
        threading.Thread(target=deactivate, args=(ada, bob)),
        threading.Thread(target=deactivate, args=(bob, ada)),
    ]
    # Hold the admin role's row while both calls start, so both are provably in flight at once
    # (each has checked its actor and locked its target) before either may decide.
    with engine.connect() as blocker:
        blocker.execute(select(Role.id).where(Role.name == "admin").with_for_update())
        for thread in threads:
            thread.start()
        _wait_for_lock_waiters(engine, 2)
        blocker.rollback()
    for thread in threads:
        thread.join(timeout=30)

    assert len(outcomes) == 2
    results = sorted(type(outcome).__name__ for outcome in outcomes.values())
    assert results == ["Conflict", "NoneType"], outcomes
    with engine.connect() as conn:
        active = conn.scalar(
            select(func.count())
            .select_from(UserProfile)
            .where(UserProfile.user_id.in_([ada.user_id, bob.user_id]), UserProfile.is_active.is_(True))
        )
    assert active == 1
    assert len(audit_entries(engine, "user.deactivated")) == 1


def _wait_for_lock_waiters(engine: Engine, count: int, timeout: float = 5.0) -> None:
    """Wait until `count` other connections of this database wait for a row lock (or time out)."""
    deadline = time.monotonic() + timeout
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.scalar(waiting) == count:
                return
            conn.rollback()
            time.sleep(0.02)


def test_a_user_manager_cannot_grant_admin_nor_take_over_an_admin_or_manager_account(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    services.roles.create_role(staff.admin, "Helpdesk", HELPDESK)
    hal = make_user("Helpdesk", email="hal@shop.example")
    admin_role = role_id(engine, "admin")
    ada = services.users.get_user(staff.admin, staff.admin.user_id)
    vic = services.users.get_user(staff.admin, staff.viewer.user_id)
    users, audit, files = (
        row_count(engine, User),
        row_count(engine, AuditEntry),
        row_count(engine, StoredFile),
    )

    refused: list[Callable[[], object]] = [
        lambda: services.users.create_user(hal, _fields(engine, "new.admin@shop.example", role="admin")),
        lambda: services.users.update_user(hal, vic.id, dataclasses.replace(_form(vic), role_id=admin_role)),
        lambda: services.users.update_user(hal, ada.id, dataclasses.replace(_form(ada), first_name="Hacked")),
        lambda: services.users.reset_password(hal, ada.id),
        lambda: services.users.set_active(hal, ada.id, False),
        lambda: services.users.delete_user(hal, ada.id),
        lambda: services.users.unlock(hal, ada.id),
        lambda: services.users.set_avatar(hal, ada.id, png(RED), "a.png"),
        lambda: services.users.reset_password(hal, staff.manager.user_id),  # managers write inventory
        lambda: services.users.update_user(
            hal, hal.user_id, dataclasses.replace(_form(vic), email=hal.email, role_id=admin_role)
        ),
    ]
    for n, call in enumerate(refused):
        with pytest.raises(PermissionDenied):
            call()
        assert (row_count(engine, User), row_count(engine, AuditEntry), row_count(engine, StoredFile)) == (
            users,
            audit,
            files,
        ), n
    assert services.users.get_user(staff.admin, ada.id) == ada
    assert services.users.get_user(staff.admin, vic.id) == vic
    services.auth.authenticate("ada@shop.example", PASSWORD)


def test_a_user_manager_manages_accounts_whose_role_is_within_their_own_rights(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    services.roles.create_role(staff.admin, "Helpdesk", HELPDESK)
    hal = make_user("Helpdesk", email="hal@shop.example")
    vic = services.users.get_user(hal, staff.viewer.user_id)

    created = services.users.create_user(hal, _fields(engine, "nina@shop.example"))
    renamed = services.users.update_user(hal, vic.id, dataclasses.replace(_form(vic), first_name="Victoria"))
    assert renamed.first_name == "Victoria"
    services.users.reset_password(hal, vic.id)
    assert not services.users.set_active(hal, vic.id, False).is_active
    assert services.users.set_active(hal, vic.id, True).is_active
    services.users.set_avatar(hal, vic.id, png(RED), "v.png")
    # A peer (same rights) is within reach too.
    promoted = services.users.update_user(
        hal, vic.id, dataclasses.replace(_form(renamed), role_id=role_id(engine, "Helpdesk"))
    )
    assert promoted.role == "Helpdesk"
    services.users.delete_user(hal, created.user.id)
    with pytest.raises(NotFound):
        services.users.get_user(hal, created.user.id)


# -- deactivating, resetting, deleting ---------------------------------------------------------


def test_deactivation_ends_remembered_devices_and_the_next_call_and_reactivation_allows_sign_in(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock
) -> None:
    remembered = services.auth.authenticate("vic@shop.example", PASSWORD, remember=True)
    assert remembered.token is not None

    record = services.users.set_active(staff.admin, staff.viewer.user_id, False)
    assert not record.is_active
    with pytest.raises(AuthenticationError):
        services.auth.resume(remembered.token)
    for actor in (staff.viewer, remembered.actor):
        with pytest.raises(AuthenticationError):
            services.users.get_user(actor, actor.user_id)
    with pytest.raises(AuthenticationError):
        services.auth.authenticate("vic@shop.example", PASSWORD)
    with engine.connect() as conn:
        revoked = conn.scalars(
            select(DeviceSession.revoked_at).where(DeviceSession.user_id == record.id)
        ).all()
    assert revoked == [clock.now]
    (entry,) = audit_entries(engine, "user.deactivated")
    assert entry.after == {"is_active": False, "sessions_revoked": 1}

    assert services.users.set_active(staff.admin, record.id, True).is_active
    services.auth.authenticate("vic@shop.example", PASSWORD)
    assert services.users.get_user(staff.viewer, record.id).is_active
    with pytest.raises(AuthenticationError):  # the remembered device stays signed out
        services.auth.resume(remembered.token)


def test_reset_password_gives_a_temporary_password_and_ends_sessions_and_the_lock(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine, clock: FakeClock
) -> None:
    mia = make_user("manager", email="mia@shop.example")
    remembered = services.auth.authenticate("mia@shop.example", PASSWORD, remember=True)
    assert remembered.token is not None
    with engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.id == mia.user_id)
            .values(failed_login_count=100, locked_at=clock.now, last_failed_login_at=clock.now)
        )

    temporary = services.users.reset_password(staff.admin, mia.user_id)

    assert TEMPORARY_PASSWORD.fullmatch(temporary)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                User.failed_login_count, User.locked_at, User.last_failed_login_at, User.must_change_password
            ).where(User.id == mia.user_id)
        ).one()
    assert tuple(row) == (0, None, None, True)
    with pytest.raises(AuthenticationError):
        services.auth.resume(remembered.token)
    with pytest.raises(AuthenticationError):
        services.auth.authenticate("mia@shop.example", PASSWORD)
    signed_in = services.auth.authenticate("mia@shop.example", temporary)
    assert signed_in.must_change_password and signed_in.actor.must_change_password
    (entry,) = audit_entries(engine, "user.password_reset")
    assert (entry.entity_id, entry.after) == (str(mia.user_id), {"sessions_revoked": 1})
    assert temporary not in json.dumps(entry.after)


def test_resetting_ones_own_password_is_refused(services: Services, staff: Staff, engine: Engine) -> None:
    audit = row_count(engine, AuditEntry)
    with pytest.raises(Conflict, match="Change my password"):
        services.users.reset_password(staff.admin, staff.admin.user_id)
    assert row_count(engine, AuditEntry) == audit
    assert not services.auth.authenticate("ada@shop.example", PASSWORD).must_change_password


def test_deleting_a_user_removes_account_profile_devices_and_picture_but_keeps_their_audit_trail(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    lea = make_user("manager", email="lea@shop.example", first_name="Lea")
    services.auth.authenticate("lea@shop.example", PASSWORD, remember=True)
    services.users.update_my_profile(lea, ProfileFields("Lea", "Leaving"))
    services.users.set_avatar(lea, lea.user_id, png(RED), "lea.png")
    with engine.connect() as conn:
        by_her = conn.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.actor_id == lea.user_id)
        )
    assert by_her == 4  # two sign-ins, the profile, the picture

    services.users.delete_user(staff.admin, lea.user_id)

    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User).where(User.id == lea.user_id)) == 0
        assert (
            conn.scalar(
                select(func.count()).select_from(UserProfile).where(UserProfile.user_id == lea.user_id)
            )
            == 0
        )
        assert (
            conn.scalar(
                select(func.count()).select_from(DeviceSession).where(DeviceSession.user_id == lea.user_id)
            )
            == 0
        )
        trail = conn.execute(
            select(AuditEntry.action, AuditEntry.actor_id).where(AuditEntry.actor_email == "lea@shop.example")
        ).all()
        about_her = conn.scalars(
            select(AuditEntry.action).where(
                AuditEntry.entity_type == "user", AuditEntry.entity_id == str(lea.user_id)
            )
        ).all()
    assert sorted(trail) == [
        ("auth.login", None),
        ("auth.login", None),
        ("user.avatar_changed", None),
        ("user.profile_updated", None),
    ]
    assert {"user.created", "auth.login", "user.profile_updated", "user.deleted"} <= set(about_her)
    assert (row_count(engine, StoredFile), row_count(engine, FileBlob)) == (0, 0)
    (entry,) = audit_entries(engine, "user.deleted")
    assert entry.before is not None and (entry.before["email"], entry.actor_email) == (
        "lea@shop.example",
        "ada@shop.example",
    )
    with pytest.raises(NotFound):
        services.users.get_user(staff.admin, lea.user_id)


def test_deleting_a_user_that_does_not_exist_is_not_found(
    services: Services, staff: Staff, engine: Engine
) -> None:
    users = row_count(engine, User)
    with pytest.raises(NotFound):
        services.users.delete_user(staff.admin, 999_999)
    assert row_count(engine, User) == users


# -- pictures ---------------------------------------------------------------------------------


def test_own_picture_needs_no_users_write_but_someone_elses_does(services: Services, staff: Staff) -> None:
    vic, max_ = staff.viewer, staff.manager
    record = services.users.set_avatar(vic, vic.user_id, png(RED, (40, 20)), "me.png")
    assert record.avatar_file_id is not None
    content = services.users.avatar(vic, vic.user_id)
    assert content is not None and content.info.id == record.avatar_file_id
    with Image.open(io.BytesIO(content.data)) as image:
        assert image.size == (40, 20)
    assert services.users.avatar(max_, vic.user_id) == content  # users.read sees others' pictures

    for call in (
        lambda: services.users.set_avatar(vic, max_.user_id, png(BLUE), "x.png"),
        lambda: services.users.remove_avatar(vic, staff.admin.user_id),
        lambda: services.users.avatar(vic, max_.user_id),
        lambda: services.users.set_avatar(max_, vic.user_id, png(BLUE), "x.png"),  # reads, cannot write
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert services.users.avatar(vic, vic.user_id) == content

    assert services.users.set_avatar(staff.admin, max_.user_id, png(BLUE), "m.png").avatar_file_id is not None
    assert services.users.remove_avatar(staff.admin, vic.user_id).avatar_file_id is None
    assert services.users.avatar(vic, vic.user_id) is None


def test_replacing_or_removing_a_picture_releases_content_nobody_else_uses(
    services: Services, staff: Staff, engine: Engine
) -> None:
    vic, max_ = staff.viewer, staff.manager
    services.users.set_avatar(max_, max_.user_id, png(RED), "same.png")
    services.users.set_avatar(vic, vic.user_id, png(RED), "same-too.png")
    red = services.users.avatar(vic, vic.user_id)
    assert red is not None and row_count(engine, FileBlob) == 1  # same content, stored once

    blue_record = services.users.set_avatar(vic, vic.user_id, png(BLUE), "new.png")
    blue = services.users.avatar(vic, vic.user_id)
    assert blue is not None and blue.info.id == blue_record.avatar_file_id
    with engine.connect() as conn:
        file_ids = set(conn.scalars(select(StoredFile.id)))
        blobs = set(conn.scalars(select(FileBlob.sha256)))
    assert red.info.id not in file_ids and blue.info.id in file_ids
    assert blobs == {red.info.sha256, blue.info.sha256}  # max still shows the red one

    services.users.remove_avatar(max_, max_.user_id)
    with engine.connect() as conn:
        assert set(conn.scalars(select(FileBlob.sha256))) == {blue.info.sha256}
    services.users.remove_avatar(vic, vic.user_id)
    assert (row_count(engine, StoredFile), row_count(engine, FileBlob)) == (0, 0)
    assert services.users.avatar(vic, vic.user_id) is None


def test_a_file_that_is_not_an_image_is_refused_and_the_old_picture_stays(
    services: Services, staff: Staff, engine: Engine
) -> None:
    vic = staff.viewer
    services.users.set_avatar(vic, vic.user_id, png(RED), "me.png")
    before = services.users.get_user(vic, vic.user_id)
    audit = row_count(engine, AuditEntry)
    with pytest.raises(ValidationError) as info:
        services.users.set_avatar(vic, vic.user_id, b"name,price\nmug,5\n", "holiday.png")
    assert list(info.value.fields) == ["file"]
    assert services.users.get_user(vic, vic.user_id) == before
    assert (row_count(engine, StoredFile), row_count(engine, AuditEntry)) == (1, audit)


def test_a_new_account_gets_its_picture_in_the_same_transaction_and_a_refused_one_creates_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    users, audit = row_count(engine, User), row_count(engine, AuditEntry)
    with pytest.raises(ValidationError) as info:
        services.users.create_user(
            staff.admin, _fields(engine, "pic@shop.example"), picture=Upload(b"not,an\nimage\n", "x.png")
        )
    assert list(info.value.fields) == ["file"]
    assert (row_count(engine, User), row_count(engine, AuditEntry), row_count(engine, StoredFile)) == (
        users,
        audit,
        0,
    )

    account = services.users.create_user(
        staff.admin, _fields(engine, "pic@shop.example"), picture=Upload(png(RED, (40, 20)), "pic.png")
    )
    assert account.user.avatar_file_id is not None and account.temporary_password is not None
    picture = services.users.avatar(staff.admin, account.user.id)
    assert picture is not None and Image.open(io.BytesIO(picture.data)).size == (40, 20)
    assert [e.action for e in audit_entries(engine, "user.avatar_changed")] == ["user.avatar_changed"]


def test_an_edit_replaces_or_removes_the_picture_with_the_fields_or_changes_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    opened = services.users.get_user(staff.admin, staff.viewer.user_id)
    with pytest.raises(ValidationError):
        services.users.update_user(
            staff.admin,
            opened.id,
            dataclasses.replace(_form(opened), first_name="Victoria"),
            picture=Upload(b"\x00" * 10, "x.webp"),
        )
    assert services.users.get_user(staff.admin, opened.id) == opened  # the names were not saved either

    saved = services.users.update_user(
        staff.admin, opened.id, _form(opened), expected=opened, picture=Upload(png(BLUE), "b.png")
    )
    assert saved.avatar_file_id is not None
    assert audit_entries(engine, "user.updated") == []  # no field changed: only the picture is audited
    removed = services.users.update_user(staff.admin, opened.id, _form(saved), remove_picture=True)
    assert removed.avatar_file_id is None and row_count(engine, StoredFile) == 0


# -- role changes -----------------------------------------------------------------------------


def test_a_role_change_applies_at_the_users_very_next_call(
    services: Services, staff: Staff, engine: Engine
) -> None:
    vic, max_ = staff.viewer, staff.manager
    with pytest.raises(PermissionDenied):
        services.users.list_users(vic, ListQuery())
    vic_record = services.users.get_user(staff.admin, vic.user_id)
    services.users.update_user(
        staff.admin, vic.user_id, dataclasses.replace(_form(vic_record), role_id=role_id(engine, "manager"))
    )
    assert services.users.list_users(vic, ListQuery()).total == 3  # same Actor object, no new sign-in

    max_record = services.users.get_user(staff.admin, max_.user_id)
    services.users.list_users(max_, ListQuery())
    services.users.update_user(
        staff.admin, max_.user_id, dataclasses.replace(_form(max_record), role_id=role_id(engine, "viewer"))
    )
    with pytest.raises(PermissionDenied):
        services.users.list_users(max_, ListQuery())
