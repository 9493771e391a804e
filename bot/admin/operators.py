"""Who is an operator, and the break-glass procedure (PRODUCT.md §5).

An operator is named in ``[[operators]]`` and proves who they are with a personal secret in
their own environment variable. The first use of a name records a keyed hash of its secret
(trust on first use); later uses must present the same secret. Break-glass needs two
*different* operators: one requests with a reason, another approves within 24 hours, and
only the approving terminal is shown the identity — once. Both steps are audited, and the
person is told by the bot (at once or after ``privacy.breakglass_notice_days``).
"""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import timedelta

from bot.config import Config
from bot.router import message
from storage.admin_repo import AdminRepo
from storage.crypto import IdentityVault
from storage.repo import DIRECT, UnitOfWork

MIN_OPERATOR_SECRET = 16


class OperatorError(Exception):
    """A refusal with a one-line reason for the operator's terminal (exit status 2)."""


@dataclass(frozen=True)
class Operator:
    name: str
    secret_hash: str


def authenticate(config: Config, uow: UnitOfWork, vault: IdentityVault, name: str,
                 env: dict[str, str] | None = None) -> Operator:
    env = os.environ if env is None else env
    entry = next((o for o in config.operators if o.name.casefold() == name.casefold()), None)
    if entry is None:
        raise OperatorError(f"operator {name!r} is not listed in [[operators]] of the config")
    secret = env.get(entry.secret_env, "")
    if len(secret) < MIN_OPERATOR_SECRET:
        raise OperatorError(f"operators.{entry.name}: environment variable {entry.secret_env} must hold "
                            f"this operator's secret (at least {MIN_OPERATOR_SECRET} characters)")
    digest = hmac.new(vault.lookup_hash("operator", entry.name).encode(), secret.encode(),
                      hashlib.sha256).hexdigest()
    key = f"operator.{entry.name}.secret"
    known = uow.state.get(key)
    if known is None:
        uow.state.set(key, digest)
    elif not hmac.compare_digest(known, digest):
        raise OperatorError(f"operators.{entry.name}: the secret in {entry.secret_env} is not the one "
                            "this operator used before")
    return Operator(entry.name, digest)


def request(config: Config, uow: UnitOfWork, repo: AdminRepo, operator: Operator, group_slug: str,
            pseudonym: str, reason: str) -> int:
    reason = " ".join(reason.split())
    if len(reason) < 10:
        raise OperatorError("--reason: say why (at least 10 characters); it goes into the audit log")
    group = repo.group(group_slug)
    if group is None:
        raise OperatorError(f"group {group_slug!r} does not exist")
    member = repo.member_by_pseudonym(group.id, pseudonym)
    if member is None:
        raise OperatorError(f"no active member called {pseudonym!r} in {group_slug}")
    row = repo.add_breakglass(group.id, member.id, reason, operator.name)
    uow.audit.add("breakglass.request", group_id=group.id, target=f"member:{member.id}",
                  detail=f"request {row.id} by operator {operator.name}: {reason}")
    return row.id


def approve(config: Config, uow: UnitOfWork, repo: AdminRepo, vault: IdentityVault, operator: Operator,
            request_id: int) -> list[tuple[str, dict]]:
    row = repo.breakglass(request_id)
    if row is None:
        raise OperatorError(f"there is no break-glass request {request_id}")
    if row.status != "pending":
        raise OperatorError(f"request {request_id} is {row.status}; a request is used once")
    if repo.is_expired(row):
        # The caller marks it expired in its own transaction (this one is rolled back).
        raise OperatorError(f"request {request_id} has expired (older than 24 hours); ask again")
    requester = uow.state.get(f"operator.{row.requested_by}.secret")
    if operator.name.casefold() == row.requested_by.casefold() or requester == operator.secret_hash:
        raise OperatorError("a second, different operator must approve this request")
    member = uow.members.get(row.member_id)
    if member is None or member.person_id is None:
        raise OperatorError(f"the member of request {request_id} no longer exists")
    row.status, row.approved_by, row.approved_at = "approved", operator.name, uow.clock.now()
    uow.audit.add("breakglass.approve", group_id=row.group_id, target=f"member:{member.id}",
                  detail=f"request {row.id} approved by operator {operator.name}")
    _tell_person(config, uow, member.person_id)
    return repo.identities_of_member(member, vault)


def _tell_person(config: Config, uow: UnitOfWork, person_id: int) -> None:
    """Queue the notice to the person, in their language, on the account they use most recently."""
    accounts = sorted(uow.accounts.for_person(person_id),
                      key=lambda a: (a.reachable, a.last_seen_at or a.created_at), reverse=True)
    if not accounts:
        return
    when = uow.clock.now() + timedelta(days=config.privacy.breakglass_notice_days)
    uow.outbox.add(accounts[0].id, message("privacy.breakglass_notice"), lane=DIRECT, not_before=when)
