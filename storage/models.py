"""SQLAlchemy 2 models.

Platform identities live only in ``accounts.identity_enc`` (authenticated encryption) and
``accounts.identity_hash`` (a keyed hash for lookup); every other table refers to people by
internal ids. Post text is stored once; what each recipient sees is rendered at delivery.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.sealed import SealedText


# Evaluated by the database in the INSERT of a member, however the row is written.
NEWEST_POST = literal_column("(SELECT coalesce(max(posts.id), 0) FROM posts)")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Person(Base):
    """One human being, independent of the platforms they use."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    language: Mapped[str | None] = mapped_column(String(8))
    consent_at: Mapped[datetime | None]
    current_member_id: Mapped[int | None] = mapped_column(Integer)
    notify: Mapped[str] = mapped_column(String(12), default="all")
    quiet_start: Mapped[int | None] = mapped_column(Integer)     # minutes after local midnight
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    discreet: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None]
    last_reminder_at: Mapped[datetime | None]
    pending_action: Mapped[str | None] = mapped_column(String(32))  # e.g. a confirmation step
    last_digest_at: Mapped[datetime | None]


class Account(Base):
    """A platform account of a person (Telegram user, Matrix user, console name)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "identity_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    identity_hash: Mapped[str] = mapped_column(String(64))
    identity_enc: Mapped[bytes] = mapped_column(LargeBinary)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Community(Base):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("group_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))


class InviteCode(Base):
    __tablename__ = "invite_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    from_config: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)
    max_uses: Mapped[int | None] = mapped_column(Integer)      # None: unlimited (`mod invite … uses`)
    expires_at: Mapped[datetime | None]


class Member(Base):
    """A person's membership of one group, under a pseudonym unique in that group.

    ``person_id`` is cleared when the member starts over (``name --fresh``) or is
    forgotten, so nothing in the database links the old pseudonym to the person.
    """

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("group_id", "pseudonym_key"),
        Index("ix_members_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    pseudonym: Mapped[str | None] = mapped_column(String(32))
    pseudonym_key: Mapped[str | None] = mapped_column(String(128))   # storage.repo.pseudonym_key
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(16), default="participant")
    status: Mapped[str] = mapped_column(String(16), default="active")
    joined_at: Mapped[datetime]
    current_thread_id: Mapped[int | None] = mapped_column(Integer)
    # The newest post of the deployment when the member joined (storage/threads_repo.py): older
    # posts of others are unread for them until they open the thread; newer ones were fanned out
    # to them, and those they got no full copy of are counted in ``thread_state.unseen``.
    unread_from: Mapped[int] = mapped_column(Integer, default=NEWEST_POST, server_default=text("0"))


class OutboxItem(Base):
    """One message to one account, written in the transaction that caused it.

    ``payload`` holds what to say (a catalogue key and parameters, or a post id), never
    the rendered text: rendering happens per recipient at delivery time.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_account", "account_id", "status", "id"),
                      # Heads only (at most one per recipient and lane): the claim walks this in id order.
                      Index("ix_outbox_heads", "lane", "status", "id",
                            sqlite_where=text("head"), postgresql_where=text("head")),
                      Index("ix_outbox_head_account", "account_id", "lane",
                            sqlite_where=text("head"), postgresql_where=text("head")),
                      {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    lane: Mapped[int] = mapped_column(Integer, default=0)          # 0 direct answers, 1 fan-out
    op: Mapped[str] = mapped_column(String(8), default="send")      # send | edit | delete
    kind: Mapped[str] = mapped_column(String(16), default="msg")    # msg | post | ...
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    post_id: Mapped[int | None] = mapped_column(Integer, index=True)
    target_delivery_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(32))     # the worker sending it
    # The oldest unfinished row of its account and lane (see storage/outbox_repo.py).
    head: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Delivery(Base):
    """A copy of a message that reached a platform, with the platform's message id."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("account_id", "platform_message_id"),
                      Index("ix_deliveries_post", "post_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    outbox_id: Mapped[int] = mapped_column(Integer, unique=True)
    post_id: Mapped[int | None] = mapped_column(Integer)
    platform_message_id: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    full: Mapped[bool] = mapped_column(Boolean, default=False)    # showed the post's content


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    group_id: Mapped[int | None] = mapped_column(Integer)
    actor_member_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class AppState(Base):
    """Small durable values: platform offsets and the like."""

    __tablename__ = "app_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_group_activity", "group_id", "last_activity_at"),
                      # the order of /threads, walked for one page (storage/threads_repo.py)
                      Index("ix_threads_group_order", "group_id", "pinned", "last_activity_at", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    # The creator's words, sealed under their member key (storage/sealed.py). When they are
    # forgotten the title is replaced by "[removed]" in the group's language (handlers/privacy.py);
    # an older backup restored after that shows REMOVED_TITLE.
    title_plain: Mapped[str | None] = mapped_column("title", String(120))
    title_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    creator_member_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)     # visible to invited members only
    title = SealedText("title_plain", "title_enc", lambda thread: thread.creator_member_id, gone="[removed]")


class Post(Base):
    """A post, stored once. ``body`` is None once the post is deleted or its author forgotten."""

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_thread", "thread_id", "id"),
                      Index("ix_posts_source", "source_account_id", "source_message_id"),
                      # /threads counts a page's posts and unread posts from this index alone
                      Index("ix_posts_thread_status", "thread_id", "status", "id", "author_member_id"),
                      # posts whose copies still wait for an edit or delete (storage/post_changes.py)
                      Index("ix_posts_pending_change", "id", sqlite_where=text("pending_change IS NOT NULL"),
                            postgresql_where=text("pending_change IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    author_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # The text is sealed under the author member's key (storage/keyring.py); ``body_plain``
    # only holds rows written before encryption (or in bulk by seeding tools) until the
    # background job seals them. Code reads and writes ``post.body``.
    body_plain: Mapped[str | None] = mapped_column("body", Text)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="published")  # published|held|hidden|deleted
    reply_to_post_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    # The author's own platform message, so that editing it on the platform edits the post.
    source_account_id: Mapped[int | None] = mapped_column(Integer)
    source_message_id: Mapped[str | None] = mapped_column(String(255))
    # "edit" or "delete" while the worker has yet to queue it for the copies (storage/post_changes.py)
    pending_change: Mapped[str | None] = mapped_column(String(8))

    body = SealedText("body_plain", "body_enc", lambda post: post.author_member_id)


class ThreadState(Base):
    """Per member and thread: what they have read and whether they follow or muted it.

    ``unseen``: posts by others, newer than both ``last_read_post_id`` and the member's
    ``unread_from``, that were fanned out while the member got no copy showing them (digest,
    notifications off, a break, a muted thread, discreet notifications). Set to 0 when they
    read the thread. Unread counts come from this, never from the delivery records, which
    retention deletes (storage/threads_repo.py).
    """

    __tablename__ = "thread_state"
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    last_read_post_id: Mapped[int] = mapped_column(Integer, default=0)
    follow: Mapped[bool | None] = mapped_column(Boolean)     # None: default, True: follow, False: muted
    page_before: Mapped[int | None] = mapped_column(Integer)  # for `more`: the oldest post shown
    unseen: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class Draft(Base):
    """Text that was not published; ``drafts``/``send``/``discard`` act on it (handlers/drafts.py)."""

    __tablename__ = "drafts"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[int | None] = mapped_column(Integer)
    # Sealed under the member's key like a post (storage/sealed.py).
    body_plain: Mapped[str | None] = mapped_column("body", Text)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    reply_to_post_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    # Why it was kept back (storage/drafts_repo.py KINDS) and, for a thread not yet created
    # (thread flood limit), the title it will get.
    kind: Mapped[str] = mapped_column(String(16), default="kept", server_default="kept")
    title_plain: Mapped[str | None] = mapped_column("title", String(120))
    title_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    body = SealedText("body_plain", "body_enc", lambda draft: draft.member_id)
    title = SealedText("title_plain", "title_enc", lambda draft: draft.member_id)


class Report(Base):
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    reporter_member_id: Mapped[int | None] = mapped_column(Integer)
    # The reporter's words, sealed under their key; gone with them when they are forgotten.
    reason_plain: Mapped[str | None] = mapped_column("reason", Text)
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="open")
    reason = SealedText("reason_plain", "reason_enc", lambda report: report.reporter_member_id)
