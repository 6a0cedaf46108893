"""Password hashing: argon2id at OWASP's parameters; old bcrypt hashes verify and get upgraded."""

from __future__ import annotations

from typing import Final

from passlib.context import CryptContext

#: OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
ARGON2_MEMORY_KIB: Final = 19 * 1024
ARGON2_TIME_COST: Final = 2

PASSWORD_CONTEXT: Final = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated=["bcrypt"],
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_KIB,
    argon2__time_cost=ARGON2_TIME_COST,
    argon2__parallelism=1,
)


def hash_password(password: str) -> str:
    hashed: str = PASSWORD_CONTEXT.hash(password)
    return hashed


def verify_password(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """(matches, new hash to store or None): the new hash appears when parameters changed."""
    ok, new_hash = PASSWORD_CONTEXT.verify_and_update(password, stored_hash)
    return bool(ok), new_hash
