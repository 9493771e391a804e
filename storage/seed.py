"""Onboarded members inserted in bulk through the repositories.

Benchmarks and load tests need hundreds of members; onboarding them one command at a time
would measure onboarding (or a platform's per-chat limit), not what they are about.
"""
from __future__ import annotations

from bot.events import PlatformUser
from storage.repo import Database


def seed_members(db: Database, group_slug: str, users: list[PlatformUser], prefix: str = "Tree",
                 community_slug: str | None = None) -> None:
    """Each user consents, joins the group and is named ``<prefix><index>``."""
    with db.uow() as uow:
        group = uow.groups.by_slug(group_slug)
        community = uow.groups.community(group.id, community_slug) if community_slug else None
        now = db.clock.now()
        for index, user in enumerate(users):
            account = uow.accounts.find_or_create(user, uow.people, "en")
            person = uow.people.get(account.person_id)
            person.consent_at = now
            member = uow.members.add(person.id, group.id, "participant", community.id if community else None)
            uow.members.set_pseudonym(member, f"{prefix}{index}")
            person.current_member_id = member.id
