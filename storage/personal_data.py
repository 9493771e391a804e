"""Everything stored about one person: found, exported (``mydata``) and erased (``forget``).

Rows that refer to a person are found by the schema, not by a hand-kept list: every column
that points at ``people``, ``accounts`` or ``members`` (a foreign key, or the naming rule
``person_id`` / ``account_id`` / ``…member_id``) counts. A feature that adds a table gets
export and erasure for free; a table whose rows must be treated differently (posts are
blanked, not deleted; a report names its reporter) registers a ``Policy`` here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Column, Table, delete, func, select, update
from sqlalchemy.orm import Session

from storage.crypto import IdentityVault
from storage.models import Account, Base, Delivery, Member, Post, Report
from storage.sealed import sealed_texts

TARGETS = {"people": "person", "accounts": "account", "members": "member"}


@dataclass
class Refs:
    person_id: int
    account_ids: list[int]
    member_ids: list[int]

    def ids(self, kind: str) -> list[int]:
        return {"person": [self.person_id], "account": self.account_ids, "member": self.member_ids}[kind]


Exporter = Callable[[Session, Refs, IdentityVault], list[dict[str, Any]]]
Eraser = Callable[[Session, Refs], None]


@dataclass
class Policy:
    """How one table's rows about a person are exported and erased.

    ``export``/``erase`` replace the generic behaviour; ``erase_columns`` lists columns whose
    reference is set to NULL instead of the row being deleted (the row belongs to others too).
    ``decode`` turns an encrypted column into readable text for the person's own export.
    """
    export: Exporter | None = None
    erase: Eraser | None = None
    erase_columns: tuple[str, ...] = ()
    decode: dict[str, Callable[[IdentityVault, Any, dict], Any]] = field(default_factory=dict)


POLICIES: dict[str, Policy] = {}


def register(table: str, policy: Policy) -> None:
    POLICIES[table] = policy


def referring_columns(table: Table) -> list[tuple[Column, str]]:
    """The columns of a table that refer to a person, an account or a member."""
    found: list[tuple[Column, str]] = []
    for column in table.columns:
        kind = None
        for fk in column.foreign_keys:
            kind = TARGETS.get(fk.column.table.name) or kind
        name = column.name
        if kind is None:
            if name == "person_id":
                kind = "person"
            elif name == "account_id" or name.endswith("_account_id"):
                kind = "account"
            elif name == "member_id" or name.endswith("_member_id"):
                kind = "member"
        if kind is not None:
            found.append((column, kind))
    if table.name in TARGETS:
        found.append((table.c.id, TARGETS[table.name]))
    return found


def refs_of(session: Session, person_id: int) -> Refs:
    accounts = list(session.scalars(select(Account.id).where(Account.person_id == person_id)))
    members = list(session.scalars(select(Member.id).where(Member.person_id == person_id)))
    return Refs(person_id, accounts, members)


def _matches(table: Table, refs: Refs, columns: list[tuple[Column, str]]):  # type: ignore[no-untyped-def]
    from sqlalchemy import or_
    conds = [column.in_(refs.ids(kind)) for column, kind in columns if refs.ids(kind)]
    return or_(*conds) if conds else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<encrypted, {len(bytes(value))} bytes>"
    return value


def tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables]


def _model_of(table: Table) -> type | None:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    return None


def _rows(session: Session, table: Table, cond) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The rows as dicts of their columns; text sealed under a member's key (storage/sealed.py)
    is opened and shown under its own name instead of its plain and sealed columns."""
    model = _model_of(table)
    texts = sealed_texts(model) if model is not None else ()
    if not texts:
        return [dict(row) for row in session.execute(select(table).where(cond)).mappings()]
    mapper = model.__mapper__  # type: ignore[union-attr]
    out = []
    for obj in session.scalars(select(model).where(cond)):
        item = {prop.columns[0].name: getattr(obj, prop.key) for prop in mapper.column_attrs}
        for text in texts:
            item.pop(getattr(model, text.plain).property.columns[0].name, None)
            item.pop(getattr(model, text.enc).property.columns[0].name, None)
            item[text.name] = getattr(obj, text.name)
        out.append(item)
    return out


def export(session: Session, vault: IdentityVault, person_id: int) -> dict[str, list[dict[str, Any]]]:
    refs = refs_of(session, person_id)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in tables():
        policy = POLICIES.get(table.name, Policy())
        if policy.export is not None:
            rows = policy.export(session, refs, vault)
        else:
            cond = _matches(table, refs, referring_columns(table))
            if cond is None:
                continue
            rows = []
            for item in _rows(session, table, cond):
                for name, decode in policy.decode.items():
                    if item.get(name) is not None:
                        item[name] = decode(vault, item[name], item)
                rows.append({k: _plain(v) for k, v in item.items()})
        if rows:
            out[table.name] = rows
    return out


def erase(session: Session, person_id: int, *, keep_accounts: bool) -> Refs:
    """Delete or unlink every row about the person. With ``keep_accounts`` the person and
    account rows stay for the moment (a last message still has to reach them); everything
    queued for them so far is dropped."""
    refs = refs_of(session, person_id)
    for table in reversed(tables()):
        if table.name in ("people", "accounts") and keep_accounts:
            continue
        policy = POLICIES.get(table.name, Policy())
        if policy.erase is not None:
            policy.erase(session, refs)
            continue
        columns = referring_columns(table)
        unlink = [(c, k) for c, k in columns if c.name in policy.erase_columns]
        for column, kind in unlink:
            if refs.ids(kind):
                session.execute(update(table).where(column.in_(refs.ids(kind))).values({column.name: None}))
        rest = [(c, k) for c, k in columns if c.name not in policy.erase_columns]
        cond = _matches(table, refs, rest)
        if cond is not None:
            session.execute(delete(table).where(cond))
    return refs


# -- the core tables -----------------------------------------------------------------------

def _open_identity(vault: IdentityVault, blob: Any, row: dict) -> Any:
    return vault.open(row["platform"], bytes(blob), row["id"])


def _erase_members(session: Session, refs: Refs) -> None:
    """A member row stays as an anonymous tombstone: others' replies and the thread history
    point at it, but nothing in it leads back to the person any more."""
    if not refs.member_ids:
        return
    session.execute(update(Member).where(Member.id.in_(refs.member_ids)).values(
        person_id=None, pseudonym=None, pseudonym_key=None, community_id=None, status="forgotten",
        current_thread_id=None))


def _erase_posts(session: Session, refs: Refs) -> None:
    """Posts become "[removed]": the text is deleted; the row keeps the thread's shape."""
    if refs.member_ids:
        session.execute(update(Post).where(Post.author_member_id.in_(refs.member_ids)).values(
            body_plain=None, body_enc=None, status="deleted", source_account_id=None,
            source_message_id=None))
    if refs.account_ids:
        session.execute(update(Post).where(Post.source_account_id.in_(refs.account_ids)).values(
            source_account_id=None, source_message_id=None))


def _export_reports(session: Session, refs: Refs, vault: IdentityVault) -> list[dict[str, Any]]:
    """Reports the person made are theirs; reports about their posts name the reporter, so
    only their number is given."""
    if not refs.member_ids:
        return []
    made = [{"post_id": r.post_id, "reason": r.reason, "created_at": _plain(r.created_at), "status": r.status}
            for r in session.scalars(select(Report).where(Report.reporter_member_id.in_(refs.member_ids)))]
    about = session.scalar(select(func.count()).select_from(Report).join(Post, Post.id == Report.post_id)
                           .where(Post.author_member_id.in_(refs.member_ids))) or 0
    return made + ([{"reports_about_your_posts": about}] if about else [])


def _export_posts(session: Session, refs: Refs, vault: IdentityVault) -> list[dict[str, Any]]:
    """The person's posts with their text opened (it is sealed under their member key)."""
    if not refs.member_ids:
        return []
    posts = session.scalars(select(Post).where(Post.author_member_id.in_(refs.member_ids)).order_by(Post.id))
    return [{"id": p.id, "thread_id": p.thread_id, "member_id": p.author_member_id, "text": p.body,
             "status": p.status, "reply_to_post_id": p.reply_to_post_id, "created_at": _plain(p.created_at),
             "edited_at": _plain(p.edited_at)} for p in posts]


register("members", Policy(erase=_erase_members))
register("posts", Policy(export=_export_posts, erase=_erase_posts))
register("accounts", Policy(decode={"identity_enc": _open_identity}))
register("reports", Policy(export=_export_reports, erase_columns=("reporter_member_id",)))
# Others' posts live in threads a person started, and the audit log must keep what a
# consultant did: both only lose the reference.
register("threads", Policy(erase_columns=("creator_member_id",)))


def blank_authored(session: Session, refs: Refs, removed_title: str) -> tuple[int, list[int]]:
    """Before an erasure: the person's posts lose their text (shown as "[removed]") and the
    threads they started get ``removed_title`` instead of theirs. Returns the number of posts
    and the ids of those threads."""
    from storage.models import Thread

    if not refs.member_ids:
        return 0, []
    posts = list(session.scalars(select(Post).where(Post.author_member_id.in_(refs.member_ids),
                                                    Post.status != "deleted")))
    for post in posts:
        post.body = None
        post.status = "deleted"
    threads = list(session.scalars(select(Thread).where(Thread.creator_member_id.in_(refs.member_ids))))
    for thread in threads:
        thread.creator_member_id = None          # the title is no longer theirs: not sealed for them
        thread.title = removed_title
    session.flush()
    return len(posts), [t.id for t in threads]


def copies_naming(session: Session, refs: Refs, thread_ids: list[int]) -> list[Delivery]:
    """Delivered copies that show the person's text, label or title: their posts, replies to
    their posts, and every post of the threads they started."""
    from sqlalchemy import or_
    from sqlalchemy.orm import aliased

    if not refs.member_ids:
        return []
    target = aliased(Post)
    q = (select(Delivery).join(Post, Post.id == Delivery.post_id)
         .outerjoin(target, target.id == Post.reply_to_post_id)
         .where(Delivery.deleted.is_(False),
                or_(Post.author_member_id.in_(refs.member_ids), target.author_member_id.in_(refs.member_ids),
                    Post.thread_id.in_(thread_ids or [-1]))))
    return list(session.scalars(q.order_by(Delivery.id)))


def expire_posts(session: Session, cutoff: datetime) -> int:
    """Retention: the text of posts older than the cutoff is deleted; the thread keeps its shape."""
    result = session.execute(update(Post).where(Post.created_at < cutoff, Post.status != "deleted").values(
        body_plain=None, body_enc=None, status="deleted", source_account_id=None, source_message_id=None))
    return result.rowcount or 0


def expire_audit(session: Session, cutoff: datetime) -> int:
    from storage.models import AuditEntry

    result = session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    return result.rowcount or 0


# -- feature tables that need more than the generic rule ---------------------------------

def _export_audit(session: Session, refs: Refs, vault: IdentityVault) -> list[dict[str, Any]]:
    """Actions the person took, and actions taken about them (the audit names targets by id)."""
    from sqlalchemy import or_
    from storage.models import AuditEntry

    if not refs.member_ids:
        return []
    post_ids = list(session.scalars(select(Post.id).where(Post.author_member_id.in_(refs.member_ids))))
    targets = [f"member:{m}" for m in refs.member_ids] + [f"post:{p}" for p in post_ids]
    rows = session.scalars(select(AuditEntry).where(or_(AuditEntry.actor_member_id.in_(refs.member_ids),
                                                        AuditEntry.target.in_(targets)))
                           .order_by(AuditEntry.id))
    return [{"id": a.id, "at": _plain(a.at), "action": a.action, "target": a.target, "reason": a.detail,
             "by_you": a.actor_member_id in refs.member_ids} for a in rows]


def _export_queue(session: Session, refs: Refs, vault: IdentityVault) -> list[dict[str, Any]]:
    """Queue items about the person, without reports (those are counted under reports: they
    could point at the reporter) and without the consultant's working notes' author."""
    table = Base.metadata.tables.get("mod_queue")
    if table is None or not refs.member_ids:
        return []
    cond = (table.c.subject_member_id.in_(refs.member_ids)) & (table.c.kind != "report")
    keep = ("id", "kind", "post_id", "body", "created_at", "status", "closed_at")
    return [{k: _plain(r[k]) for k in keep if k in r} for r in _rows(session, table, cond)]


register("audit_log", Policy(export=_export_audit, erase_columns=("actor_member_id",)))
register("mod_queue", Policy(export=_export_queue, erase_columns=("closed_by_member_id",)))
# A consultant who leaves keeps the sanctions they gave; a buddy who leaves unpairs.
register("sanctions", Policy(erase_columns=("actor_member_id",)))
register("cafe_buddies", Policy(export=lambda s, r, v: _export_buddies(s, r), erase_columns=("buddy_member_id",)))


def _export_buddies(session: Session, refs: Refs) -> list[dict[str, Any]]:
    """Buddy wishes and pairings: the buddy by pseudonym (the pairing introduced them so)."""
    table = Base.metadata.tables.get("cafe_buddies")
    if table is None or not refs.member_ids:
        return []
    out = []
    cond = table.c.member_id.in_(refs.member_ids) | table.c.buddy_member_id.in_(refs.member_ids)
    for row in session.execute(select(table).where(cond)).mappings():
        mine = row["member_id"] in refs.member_ids
        other_id = row["buddy_member_id"] if mine else row["member_id"]
        other = session.get(Member, other_id) if other_id is not None else None
        out.append({"cafe_id": row["cafe_id"], "asked_by_you": mine, "at": _plain(row["at"]),
                    "buddy_pseudonym": other.pseudonym if other is not None else None})
    return out
