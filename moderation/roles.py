"""Roles in one place: who may moderate which group.

Every ``mod …`` and ``cafe …`` command goes through :func:`require_consultant`. The check
is the same whatever the command's target: a refusal never says whether a post, thread or
pseudonym exists. Consultants come from the config (re-synced at every start) or are
granted and revoked by an operator (``peerhaven admin consultant grant|revoke``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from moderation import audit
from storage.models import AuditEntry, Member

if TYPE_CHECKING:
    from bot.config import Config
    from bot.router import Context
    from storage.repo import UnitOfWork

log = logging.getLogger(__name__)
PARTICIPANT, CONSULTANT = "participant", "consultant"
OPERATOR, REVOKED = "operator", "revoked"      # consultant_prefs.source, set by the operator CLI


def is_consultant_of(uow: "UnitOfWork", member: Member | None, group_id: int | None = None) -> bool:
    """An active, not banned consultant member (of ``group_id`` when given)."""
    if member is None or member.role != CONSULTANT or member.status != "active" or member.person_id is None:
        return False
    if group_id is not None and member.group_id != group_id:
        return False
    return not uow.moderation.is_banned(member.group_id, member.person_id)


def require_consultant(ctx: "Context", group_id: int | None = None) -> Member | None:
    """The acting consultant's membership, or None after a refusal that names no target.

    ``group_id``: the group the action is about (default: the member's current group).
    """
    member = ctx.member
    if not is_consultant_of(ctx.uow, member, group_id):
        ctx.reply("mod.not_allowed")
        return None
    return member


def operator_marker(uow: "UnitOfWork", member_id: int) -> str | None:
    """OPERATOR when an operator granted the role, REVOKED when one took it away, else None.

    The marker lives in ``consultant_prefs.source`` (not in the audit log, which retention
    trims). A grant made before the marker existed is still recognised by its audit row.
    """
    prefs = uow.moderation.find_prefs(member_id)
    if prefs is not None and prefs.source in (OPERATOR, REVOKED):
        return prefs.source
    row = uow.session.scalar(select(AuditEntry.action).where(
        AuditEntry.target == f"member:{member_id}", AuditEntry.action.in_(("role.grant", "role.revoke")))
        .order_by(AuditEntry.id.desc()).limit(1))
    return OPERATOR if row == "role.grant" else None


def grant_by_operator(uow: "UnitOfWork", member: Member, operator: str) -> bool:
    """The consultant role, kept across restarts whatever the config says; audited.
    Returns whether the role changed."""
    return _set_by_operator(uow, member, CONSULTANT, OPERATOR, "role.grant", operator)


def revoke_by_operator(uow: "UnitOfWork", member: Member, operator: str) -> bool:
    """Back to participant, also across restarts: a start does not grant the role again even
    while the config still names them (the operator removes them there at leisure)."""
    return _set_by_operator(uow, member, PARTICIPANT, REVOKED, "role.revoke", operator)


def _set_by_operator(uow: "UnitOfWork", member: Member, role: str, marker: str, action: str,
                     operator: str) -> bool:
    changed = member.role != role
    member.role = role
    uow.moderation.prefs(member.id).source = marker
    audit.record(uow, action, group_id=member.group_id, target=audit.member(member.id),
                 reason=f"by operator {operator}: {role}")
    return changed


def sync_config_roles(uow: "UnitOfWork", config: "Config") -> int:
    """Make member roles match the config's consultant lists (operator grants and revokes are kept).
    Returns how many roles changed; each change is an audit row."""
    changed = 0
    for gcfg in config.groups:
        group = uow.groups.by_slug(gcfg.slug)
        if group is None:
            continue
        named: set[int] = set()
        for ident in gcfg.consultants:
            platform, _, user_id = ident.partition(":")
            account = uow.accounts.find(platform, user_id)
            member = uow.members.in_group(account.person_id, group.id) if account else None
            if member is None:
                continue
            named.add(member.id)
            if member.role != CONSULTANT and operator_marker(uow, member.id) == REVOKED:
                log.warning("a consultant named in the config was revoked by an operator; not granted again")
                continue
            if member.role != CONSULTANT:
                member.role = CONSULTANT
                audit.record(uow, "role.sync_grant", group_id=group.id, target=audit.member(member.id),
                             reason="named in the config")
                changed += 1
        for member in uow.moderation.consultants(group.id):
            if member.id not in named and operator_marker(uow, member.id) != OPERATOR:
                member.role = PARTICIPANT
                audit.record(uow, "role.sync_revoke", group_id=group.id, target=audit.member(member.id),
                             reason="no longer named in the config")
                changed += 1
    if changed:
        log.info("consultant roles re-synced from the config: %d changed", changed)
    return changed
