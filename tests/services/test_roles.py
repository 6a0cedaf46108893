"""Roles and their permissions: the catalogue, creating, editing and deleting roles, the protected
built-ins, and the guard against handing out rights one does not hold.

Who may call which method is proven in `test_permission_matrix.py`; these tests are about what the
calls do when they are allowed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from ecomdesk.db.catalog import BUILTIN_ROLES, PERMISSIONS
from ecomdesk.db.models import AuditEntry, Role, role_permissions
from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.roles import RoleInfo
from tests.services.conftest import MakeUser, Staff, audit_entries, role_id, row_count

STOCK = frozenset({"inventory.read", "inventory.write"})


def _grants(engine: Engine) -> set[tuple[int, str]]:
    """Every (role id, permission) pair in the database."""
    with engine.connect() as conn:
        return {
            (r, p)
            for r, p in conn.execute(select(role_permissions.c.role_id, role_permissions.c.permission_code))
        }


def _role(services: Services, staff: Staff, name: str) -> RoleInfo:
    (info,) = [r for r in services.roles.list_roles(staff.admin) if r.name == name]
    return info


# -- reading ----------------------------------------------------------------------------------


def test_every_signed_in_user_sees_the_whole_permission_catalogue_with_descriptions(
    services: Services, staff: Staff
) -> None:
    listed = services.roles.list_permissions(staff.viewer)
    assert [p.code for p in listed] == sorted(PERMISSIONS)
    assert {p.code: p.description for p in listed} == PERMISSIONS
    assert all(p.description.strip() for p in listed)


def test_roles_are_listed_built_ins_first_with_their_permissions_and_user_counts(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    services.roles.create_role(staff.admin, "Zeta crew", frozenset({"reports.read"}))
    services.roles.create_role(staff.admin, "alpha crew", frozenset(), "Nothing yet")
    make_user("Zeta crew", email="zoe@shop.example")
    make_user("viewer")

    roles = services.roles.list_roles(staff.manager)  # users.read is enough to see them
    assert [(r.name, r.is_builtin, r.locked, r.user_count) for r in roles] == [
        ("admin", True, True, 1),
        ("manager", True, False, 1),
        ("viewer", True, False, 2),
        ("alpha crew", False, False, 0),
        ("Zeta crew", False, False, 1),
    ]
    by_name = {r.name: r for r in roles}
    for name, (description, permissions) in BUILTIN_ROLES.items():
        assert (by_name[name].description, by_name[name].permissions) == (description, permissions)
    assert by_name["admin"].permissions == frozenset(PERMISSIONS)
    assert by_name["Zeta crew"].permissions == frozenset({"reports.read"})
    assert by_name["alpha crew"].description == "Nothing yet"


def test_a_user_with_neither_users_read_nor_roles_manage_cannot_list_roles(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    services.roles.create_role(staff.admin, "Role keepers", frozenset({"roles.manage"}))
    keeper = make_user("Role keepers", email="kim@shop.example")
    assert len(services.roles.list_roles(keeper)) == 4  # roles.manage alone is enough
    with pytest.raises(PermissionDenied):
        services.roles.list_roles(staff.viewer)


# -- creating ---------------------------------------------------------------------------------


def test_create_role_tidies_the_name_and_is_audited(services: Services, staff: Staff, engine: Engine) -> None:
    info = services.roles.create_role(staff.admin, "  Stock \t  keepers  ", STOCK, "  Keeps the stock  ")
    assert (info.name, info.description, info.permissions) == ("Stock keepers", "Keeps the stock", STOCK)
    assert (info.is_builtin, info.locked, info.user_count) == (False, False, 0)
    assert info.id == role_id(engine, "Stock keepers")
    assert {p for r, p in _grants(engine) if r == info.id} == STOCK

    (entry,) = audit_entries(engine, "role.created")
    assert (entry.entity_type, entry.entity_id, entry.actor_email) == (
        "role",
        str(info.id),
        "ada@shop.example",
    )
    assert entry.before is None
    assert entry.after == {
        "name": "Stock keepers",
        "description": "Keeps the stock",
        "permissions": ["inventory.read", "inventory.write"],
    }


def test_create_role_refuses_bad_names_and_unknown_permissions_and_writes_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    services.roles.create_role(staff.admin, "Stock keepers", STOCK)
    roles, audit, grants = row_count(engine, Role), row_count(engine, AuditEntry), _grants(engine)

    taken = "Another role already has this name."
    cases: list[tuple[str, frozenset[str], dict[str, str]]] = [
        ("Admin", frozenset(), {"name": taken}),
        ("  MANAGER ", frozenset(), {"name": taken}),
        ("stock   KEEPERS", frozenset(), {"name": taken}),
        (" \t ", frozenset(), {"name": "Required."}),
        ("x" * 65, frozenset(), {"name": "At most 64 characters."}),
        (
            "Packers",
            frozenset({"inventory.read", "users.fly"}),
            {"permissions": "Unknown permission: users.fly."},
        ),
        ("", frozenset({"zzz"}), {"name": "Required.", "permissions": "Unknown permission: zzz."}),
    ]
    for name, permissions, problems in cases:
        with pytest.raises(ValidationError) as info:
            services.roles.create_role(staff.admin, name, permissions)
        assert info.value.fields == problems, name
    assert (row_count(engine, Role), row_count(engine, AuditEntry), _grants(engine)) == (roles, audit, grants)

    assert services.roles.create_role(staff.admin, "y" * 64, frozenset()).name == "y" * 64


# -- editing ----------------------------------------------------------------------------------


def test_update_role_reports_exactly_what_was_added_removed_and_renamed(
    services: Services, staff: Staff, engine: Engine
) -> None:
    stock = services.roles.create_role(staff.admin, "Stock", STOCK)
    change = services.roles.update_role(
        staff.admin,
        stock.id,
        name=" Stock   room ",
        permissions=frozenset({"inventory.read", "inventory.adjust"}),
        description="Counts things",
    )
    assert (change.added, change.removed, change.renamed_from) == (
        frozenset({"inventory.adjust"}),
        frozenset({"inventory.write"}),
        "Stock",
    )
    assert (change.role.name, change.role.description) == ("Stock room", "Counts things")
    assert change.role.permissions == frozenset({"inventory.read", "inventory.adjust"})
    assert {p for r, p in _grants(engine) if r == stock.id} == change.role.permissions

    (entry,) = audit_entries(engine, "role.updated")
    assert entry.before == {
        "name": "Stock",
        "description": "",
        "permissions": ["inventory.read", "inventory.write"],
    }
    assert entry.after == {
        "name": "Stock room",
        "description": "Counts things",
        "permissions": ["inventory.adjust", "inventory.read"],
        "added": ["inventory.adjust"],
        "removed": ["inventory.write"],
    }

    only_rights = services.roles.update_role(
        staff.admin, stock.id, name="Stock room", permissions=frozenset(), description="Counts things"
    )
    assert (only_rights.added, only_rights.removed, only_rights.renamed_from) == (
        frozenset(),
        frozenset({"inventory.read", "inventory.adjust"}),
        None,
    )


def test_the_admin_role_cannot_be_changed_and_keeps_every_permission(
    services: Services, staff: Staff, engine: Engine
) -> None:
    admin = _role(services, staff, "admin")
    audit = row_count(engine, AuditEntry)
    fewer = frozenset(PERMISSIONS) - {"settings.manage"}
    for name, permissions in (("admin", fewer), ("Owner", admin.permissions), ("admin", admin.permissions)):
        with pytest.raises(Conflict, match="admin role"):
            services.roles.update_role(
                staff.admin, admin.id, name=name, permissions=permissions, description=admin.description
            )
    with pytest.raises(Conflict, match="built-in"):
        services.roles.delete_role(staff.admin, admin.id)
    assert _role(services, staff, "admin") == admin
    assert admin.permissions == frozenset(PERMISSIONS)
    assert row_count(engine, AuditEntry) == audit


def test_built_in_roles_can_have_their_permissions_tuned_but_keep_their_names(
    services: Services, staff: Staff
) -> None:
    manager = _role(services, staff, "manager")
    change = services.roles.update_role(
        staff.admin,
        manager.id,
        name=" manager ",
        permissions=manager.permissions - {"audit.read"},
        description=manager.description,
    )
    assert (change.removed, change.added, change.renamed_from) == (
        frozenset({"audit.read"}),
        frozenset(),
        None,
    )
    assert change.role.name == "manager"

    for new_name in ("Shop manager", "Manager"):
        with pytest.raises(ValidationError) as info:
            services.roles.update_role(
                staff.admin, manager.id, name=new_name, permissions=manager.permissions, description=""
            )
        assert list(info.value.fields) == ["name"]
    assert _role(services, staff, "manager") == change.role


def test_a_stale_role_form_is_refused_and_the_other_change_is_kept(
    services: Services, staff: Staff, engine: Engine
) -> None:
    opened = services.roles.create_role(staff.admin, "Stock", STOCK)
    services.roles.update_role(staff.admin, opened.id, name="Stock", permissions=STOCK | {"inventory.adjust"})
    audit = row_count(engine, AuditEntry)

    with pytest.raises(Conflict, match="changed by someone else"):
        services.roles.update_role(
            staff.admin, opened.id, name="Stock", permissions=STOCK - {"inventory.write"}, expected=opened
        )
    assert _role(services, staff, "Stock").permissions == STOCK | {"inventory.adjust"}
    assert row_count(engine, AuditEntry) == audit
    with pytest.raises(NotFound):
        services.roles.update_role(staff.admin, 999_999, name="Ghost", permissions=frozenset())


def test_saving_a_role_unchanged_writes_no_audit_entry(
    services: Services, staff: Staff, engine: Engine
) -> None:
    stock = services.roles.create_role(staff.admin, "Stock", STOCK, "Keeps the stock")
    audit = row_count(engine, AuditEntry)
    change = services.roles.update_role(
        staff.admin,
        stock.id,
        name="  Stock ",
        permissions=STOCK,
        description="Keeps the stock ",
        expected=stock,
    )
    assert (change.added, change.removed, change.renamed_from) == (frozenset(), frozenset(), None)
    assert (change.role.name, change.role.description, change.role.permissions) == (
        "Stock",
        "Keeps the stock",
        STOCK,
    )
    assert row_count(engine, AuditEntry) == audit


# -- deleting ---------------------------------------------------------------------------------


def test_built_in_roles_cannot_be_deleted(services: Services, staff: Staff, engine: Engine) -> None:
    roles = row_count(engine, Role)
    for name in ("admin", "manager", "viewer"):
        with pytest.raises(Conflict, match="built-in role"):
            services.roles.delete_role(staff.admin, role_id(engine, name))
    assert row_count(engine, Role) == roles


def test_a_role_in_use_cannot_be_deleted_and_the_refusal_says_how_many_hold_it(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    packers = services.roles.create_role(staff.admin, "Packers", frozenset({"inventory.read"}))
    make_user("Packers", email="pia@shop.example")
    with pytest.raises(Conflict, match="1 user holds the role Packers"):
        services.roles.delete_role(staff.admin, packers.id)
    make_user("Packers", email="pit@shop.example")
    with pytest.raises(Conflict, match="2 users hold the role Packers"):
        services.roles.delete_role(staff.admin, packers.id)
    assert _role(services, staff, "Packers").user_count == 2
    assert audit_entries(engine, "role.deleted") == []


def test_an_unused_custom_role_is_deleted_and_audited(
    services: Services, staff: Staff, engine: Engine
) -> None:
    stock = services.roles.create_role(staff.admin, "Stock", STOCK, "Keeps the stock")
    services.roles.delete_role(staff.admin, stock.id)

    assert "Stock" not in {r.name for r in services.roles.list_roles(staff.admin)}
    assert not any(r == stock.id for r, _ in _grants(engine))
    (entry,) = audit_entries(engine, "role.deleted")
    assert (entry.entity_id, entry.actor_email) == (str(stock.id), "ada@shop.example")
    assert entry.before == {
        "name": "Stock",
        "description": "Keeps the stock",
        "permissions": ["inventory.read", "inventory.write"],
    }
    with pytest.raises(NotFound):
        services.roles.delete_role(staff.admin, stock.id)


# -- escalation and effect ----------------------------------------------------------------------


def test_a_role_manager_cannot_hand_out_rights_they_do_not_hold(
    services: Services, staff: Staff, make_user: MakeUser, engine: Engine
) -> None:
    services.roles.create_role(staff.admin, "Role keepers", frozenset({"roles.manage", "users.read"}))
    keeper = make_user("Role keepers", email="kim@shop.example")
    helpdesk = services.roles.create_role(staff.admin, "Helpdesk", frozenset({"users.read", "users.write"}))
    viewer = _role(services, staff, "viewer")
    roles, audit, grants = row_count(engine, Role), row_count(engine, AuditEntry), _grants(engine)

    refused: list[Callable[[], object]] = [
        lambda: services.roles.create_role(keeper, "Writers", frozenset({"users.read", "users.write"})),
        lambda: services.roles.update_role(
            keeper, viewer.id, name="viewer", permissions=viewer.permissions | {"users.write"}
        ),
        # Taking away a right one lacks is handing it out in reverse.
        lambda: services.roles.update_role(
            keeper, viewer.id, name="viewer", permissions=viewer.permissions - {"reports.read"}
        ),
        lambda: services.roles.delete_role(keeper, helpdesk.id),
    ]
    for n, call in enumerate(refused):
        with pytest.raises(PermissionDenied):
            call()
        assert (row_count(engine, Role), row_count(engine, AuditEntry), _grants(engine)) == (
            roles,
            audit,
            grants,
        ), n

    # Within their own rights they may work.
    own = services.roles.create_role(keeper, "Readers", frozenset({"users.read"}))
    services.roles.update_role(
        keeper,
        viewer.id,
        name="viewer",
        permissions=viewer.permissions | {"users.read"},
        description=viewer.description,
    )
    services.roles.delete_role(keeper, own.id)


def test_a_removed_permission_applies_at_the_next_call_of_a_signed_in_user(
    services: Services, staff: Staff
) -> None:
    manager = _role(services, staff, "manager")
    assert services.users.list_users(staff.manager, ListQuery()).total == 3
    services.roles.update_role(
        staff.admin,
        manager.id,
        name="manager",
        permissions=manager.permissions - {"users.read"},
        description=manager.description,
    )
    with pytest.raises(PermissionDenied):
        services.users.list_users(staff.manager, ListQuery())  # the Actor from before the change
    services.roles.update_role(
        staff.admin,
        manager.id,
        name="manager",
        permissions=manager.permissions,
        description=manager.description,
    )
    assert services.users.list_users(staff.manager, ListQuery()).total == 3
