"""The one place that decides how a recipient sees an author.

``author_label(rc, author)`` is what every renderer calls (posts, replies, digests, queue
previews, café lists): it applies the live reveals between this author and this recipient
at the moment of rendering, so a withdrawn reveal stops showing at once. What it looks up
is kept in the render batch's cache: a fan-out renders the same author for many
recipients, and each lookup is made once per author (cards, community) or once per
recipient (their membership), not once per copy.
"""
from __future__ import annotations

from typing import Any, Callable

from storage.models import Member
from storage.repo import UnitOfWork

Translate = Callable[..., str]


def _cached(cache: dict, key: tuple, make: Callable[[], Any]) -> Any:
    if key not in cache:
        cache[key] = make()
    return cache[key]


def viewer_member_id(uow: UnitOfWork, cache: dict, person_id: int, group_id: int) -> int | None:
    """The recipient's membership in the author's group (None if they have none)."""
    def find() -> int | None:
        member = uow.members.in_group(person_id, group_id)
        return member.id if member is not None else None
    return _cached(cache, ("labels.viewer", person_id, group_id), find)


def groups_of(uow: UnitOfWork, cache: dict, person_id: int) -> set[int]:
    """The groups the recipient is an active member of."""
    return _cached(cache, ("labels.groups", person_id),
                   lambda: {m.group_id for m in uow.members.of_person(person_id)})


def prefetch(uow: UnitOfWork, person_ids: set[int], cache: dict) -> None:
    """Look up the memberships of a whole batch of recipients at once (one query, not two
    per copy of a fan-out): their groups, and their member id in each group of the batch."""
    person_ids = {p for p in person_ids if ("labels.groups", p) not in cache}
    if not person_ids:
        return
    members = uow.members.of_people(person_ids)
    groups = {m.group_id for m in members}
    for person_id in person_ids:
        cache[("labels.groups", person_id)] = set()
        for group_id in groups:
            cache.setdefault(("labels.viewer", person_id, group_id), None)
    for m in members:
        cache[("labels.groups", m.person_id)].add(m.group_id)
        cache[("labels.viewer", m.person_id, m.group_id)] = m.id


def prefetch_authors(uow: UnitOfWork, authors: list[Member], cache: dict) -> None:
    """Who sees each author's card, for all of a batch's authors in one query (a page of
    ``read`` shows five authors; one query each was five round trips)."""
    wanted = {a.id for a in authors if a.person_id is not None and ("labels.card_to", a.id) not in cache}
    for author_id, recipients in uow.reveals.card_recipients_of(wanted).items():
        cache[("labels.card_to", author_id)] = recipients


def label(uow: UnitOfWork, t: Translate, author: Member | None, viewer_id: int | None, cache: dict) -> str:
    """How the member ``viewer_id`` sees ``author`` now. The result depends only on the
    author's own live reveals (to this viewer, or of their community to the group)."""
    if author is None:
        return t("post.someone")
    name = author.pseudonym or t("post.someone")
    if author.role == "consultant":
        return t("post.consultant_label", name=name)
    if author.person_id is None:          # retired (name --fresh) or forgotten: nothing more to show
        return name
    community = _cached(cache, ("labels.community", author.id), lambda: _community(uow, author))
    shown = name if community is None else t("reveal.label_community", name=name, community=community)
    if viewer_id is None or viewer_id == author.id:
        return shown
    card_to = _cached(cache, ("labels.card_to", author.id), lambda: uow.reveals.card_recipients(author.id))
    if viewer_id not in card_to:
        return shown
    card = _cached(cache, ("labels.card", author.id), lambda: uow.reveals.card(author.id))
    if not card.get("name"):
        return shown
    return t("reveal.label_card", label=shown, first=card["name"])


def _community(uow: UnitOfWork, author: Member) -> str | None:
    if author.community_id is None or not uow.reveals.community_shown(author.id):
        return None
    community = uow.groups.community_by_id(author.community_id)
    return community.name if community is not None else None


def author_label(rc: Any, author: Member | None) -> str:
    """The label for the recipient of a render context (bot.render.RenderContext)."""
    if author is None:
        return rc.t("post.someone")
    viewer = viewer_member_id(rc.uow, rc.cache, rc.person.id, author.group_id)
    return label(rc.uow, rc.t, author, viewer, rc.cache)


def label_for_member(uow: UnitOfWork, t: Translate, author: Member | None, viewer: Member | None,
                     cache: dict | None = None) -> str:
    """The same label where the recipient is known as a member (answers built in a handler)."""
    return label(uow, t, author, viewer.id if viewer is not None else None, {} if cache is None else cache)
