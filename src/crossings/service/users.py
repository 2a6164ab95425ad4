"""User management shared by ``crossings serve adduser`` and the tests."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossings.errors import ConfigError
from crossings.service import auth
from crossings.service.models import Grant, User
from crossings.service.policy import check_country, check_role, check_verbs

__all__ = ["parse_grant", "add_user"]


def parse_grant(text: str) -> tuple[str, str, tuple[str, ...]]:
    """``ROLE:COUNTRY:VERB,VERB`` -> (role, country, verbs).

    >>> parse_grant("border_agency:KAZ:view,approve")
    ('border_agency', 'KAZ', ('view', 'approve'))
    """
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise ConfigError(
            f"must look like ROLE:COUNTRY:VERB,VERB (nature_agency:UZB:view,propose); got {text!r}",
            field="--grant",
        )
    role, country, verbs = parts
    return check_role(role), check_country(country), check_verbs(verbs.split(","))


def add_user(
    session: Session,
    username: str,
    password: str,
    grants: Iterable[tuple[str, str, Iterable[str]]],
    *,
    display_name: str = "",
    replace: bool = False,
) -> User:
    """Create (or with ``replace``, reset) a user with these grants, checking the password rules."""
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").isalnum()
    ):
        raise ConfigError(
            f"must be 1-64 letters, digits, '_' or '.'; got {username!r}", field="username"
        )
    auth.check_password_rules(password, username)
    user = session.scalar(select(User).where(User.username == username))
    if user is not None and not replace:
        raise ConfigError(f"user {username!r} exists; pass --replace to reset it", field="username")
    if user is None:
        user = User(username=username)
        session.add(user)
    user.password_hash = auth.hash_password(password)
    user.display_name = display_name or username
    user.grants = [
        Grant(
            role=check_role(role),
            country=check_country(country),
            verbs=" ".join(check_verbs(verbs)),
        )
        for role, country, verbs in grants
    ]
    session.commit()
    return user
