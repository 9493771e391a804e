"""The application: turns neutral events into handler calls inside one transaction each."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.clock import Clock
from bot.config import Config
from bot.dbthread import DbThread
from bot.delivery import OutboxWorker
from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.unwritten import UnwrittenAnswers
from bot.i18n import LANGUAGES, I18n
from moderation import audit
from bot.unicode_text import has_visible_text
from bot.router import MAX_INPUT, Context, Router, clean_text, looks_like_command, parse_command
from storage.crypto import IdentityVault
from storage.db import gave_up_waiting
from storage.repo import DIRECT, Database, UnitOfWork

log = logging.getLogger(__name__)


class Directory:
    """Groups, communities, invite codes and consultants from the config, synced to the database."""

    def __init__(self, config: Config, vault: IdentityVault) -> None:
        self._consultants: dict[str, set[tuple[str, str]]] = {}
        for group in config.groups:
            entries = set()
            for ident in group.consultants:
                platform, _, user_id = ident.partition(":")
                entries.add((platform, vault.lookup_hash(platform, user_id)))
            self._consultants[group.slug] = entries
        self.config = config
        self.vault = vault

    def is_consultant(self, group_slug: str, user: PlatformUser) -> bool:
        key = (user.platform, self.vault.lookup_hash(user.platform, user.user_id))
        return key in self._consultants.get(group_slug, set())

    def sync(self, uow: UnitOfWork) -> None:
        for gcfg in self.config.groups:
            group = uow.groups.upsert(gcfg.slug, gcfg.name)
            for ccfg in gcfg.communities:
                uow.groups.upsert_community(group.id, ccfg.slug, ccfg.name)
            for code in gcfg.invite_codes:
                uow.groups.ensure_invite(group.id, code)
            # A code taken out of the config stops working at this start (codes made with
            # `mod invite` or the operator CLI are not the config's to revoke).
            for invite in uow.groups.config_invites_not_in(group.id, gcfg.invite_codes):
                invite.revoked_at = uow.clock.now()
                audit.record(uow, "invite.sync_revoke", group_id=group.id, target=f"invite:{invite.id}",
                             reason="no longer in the config")


class App:
    def __init__(self, config: Config, db: Database, router: Router, i18n: I18n, clock: Clock,
                 worker: OutboxWorker, services: dict[str, Any], dbt: DbThread | None = None) -> None:
        self.config = config
        self.db = db
        self.dbt = dbt or DbThread(db)
        self.router = router
        self.i18n = i18n
        self.clock = clock
        self.worker = worker
        self.services = services
        services.setdefault("router", router)     # `help` lists what the router knows
        self.handled = 0
        self.errors = 0
        self.busy = 0              # events answered with "send it again in a moment"
        self.unwritten = UnwrittenAnswers(self)

    async def handle(self, event: IncomingEvent) -> None:
        """Entry point for every transport. Never raises: one bad update must not stop the bot.

        The transaction runs in the database thread (bot.dbthread), so the loop keeps polling
        and sending meanwhile; the transports await this call, so one person's events are
        still handled one after another, in the order they came."""
        runs: list = []
        try:
            if not await self.unwritten.answered(event):
                runs = await self.dbt.retrying(self._handle, event)
        except Exception as exc:
            if gave_up_waiting(exc):
                self.busy += 1
                log.warning("database busy: a %s event was not handled; the person is asked to send "
                            "it again (%s)", event.kind.value, exc.__class__.__name__)
                await self._answer(event, busy_answer(event))
            else:
                self.errors += 1
                # Message text and identities stay out of the log; the exception type is enough to debug.
                log.error("handler failed for a %s event: %s", event.kind.value, exc.__class__.__name__,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                await self._answer(event, {"key": "error.internal", "params": {}})
        self.worker.start_prepared(runs)
        self.handled += 1
        self.worker.wake()

    async def _answer(self, event: IncomingEvent, payload: dict | None) -> None:
        """Tell the person their event was not handled, when the handler could not.

        Through the outbox when the database takes the row (one try: its busy timeout is the
        pause, and reads are never blocked, so the account is found); when even that fails,
        straight through their transport, as a last resort: it skips the outbox's order and
        rate limits, but the person must not be left with silence."""
        if payload is None:
            return
        try:
            await self.dbt.run(self.queue_answers, event, [payload])
            return
        except Exception as exc:
            log.warning("could not queue the answer either (%s); sending it directly", exc.__class__.__name__)
        lang = event.user.language if event.user.language in LANGUAGES else self.config.bot.default_language
        text = self.i18n.t(lang, payload["key"], **payload["params"])
        try:
            await self.send_direct(event, Rendered(text=text))
        except Exception as exc:
            log.error("could not even answer: %s", exc.__class__.__name__)

    def queue_answers(self, event: IncomingEvent, payloads: list[dict]) -> None:
        """Queue answers to the event's sender on the direct lane (database thread)."""
        with self.db.uow() as uow:
            # find() only reads: the account row itself may be what another transaction holds.
            account = uow.accounts.find(event.user.platform, event.user.user_id) or \
                uow.accounts.find_or_create(event.user, uow.people, self.config.bot.default_language)
            for payload in payloads:
                uow.outbox.add(account.id, payload, lane=DIRECT)

    async def send_direct(self, event: IncomingEvent, rendered: Rendered) -> None:
        """Send one answer straight to the sender's chat, outside the outbox (raises when the
        platform does not take it). Only for answers that need no record: see bot.unwritten."""
        transport = self.worker.transports.get(event.user.platform)
        if transport is None:
            raise LookupError("transport offline")
        await transport.send(event.user.address, replace(rendered, urgent=True))

    def _handle(self, event: IncomingEvent) -> list:
        """One whole transaction, run again from the start when it loses to a lock.

        The answers to the sender are claimed and rendered in the same transaction and sent
        as soon as it commits (OutboxWorker.prepare_in, start_prepared): left to the worker's direct lane,
        they waited for its claim, which during a big fan-out queues behind a bulk step in
        the database thread (issue 15: /help p99 during a drain). Claimed rows are ``sending``
        under the worker's name, so a crash before the send sends them at the next start,
        as for any claim; answers of an earlier event still on their way keep theirs first
        (only a recipient's first unfinished row is claimed, with the run behind it)."""
        with self.db.uow() as uow:
            account = uow.accounts.find_or_create(event.user, uow.people, self.config.bot.default_language)
            self.worker.forget_address(account.id)   # they may write from a new chat or room
            person = uow.people.get(account.person_id)
            ctx = Context(uow=uow, account=account, person=person, user=event.user, event=event,
                          config=self.config, clock=self.clock, services=self.services)
            self._route(ctx, event)
            runs, _ = self.worker.prepare_in(uow, DIRECT, account)
            return runs

    def _route(self, ctx: Context, event: IncomingEvent) -> None:
        if event.kind is Kind.BLOCKED:
            ctx.uow.accounts.set_reachable(ctx.account, False)
            ctx.uow.outbox.hold_account(ctx.account.id)
            return
        if event.kind is Kind.UNBLOCKED or not ctx.account.reachable:
            ctx.uow.accounts.set_reachable(ctx.account, True)
            ctx.uow.outbox.release_account(ctx.account.id)
            if event.kind is Kind.UNBLOCKED:
                return
        if event.kind in (Kind.MEDIA, Kind.FORWARD):
            ctx.reply("input.media" if event.kind is Kind.MEDIA else "input.forward")
            return
        text = clean_text(event.text)
        if len(text) > MAX_INPUT:
            ctx.reply("input.too_long", count=MAX_INPUT)
            return
        if not has_visible_text(text):        # zero-width characters alone are nothing to post
            ctx.reply("input.empty")
            return
        if event.kind is Kind.EDIT:
            if self.router.edit_handler is not None and ctx.person.consent_at is not None:
                ctx.args = text
                self.router.edit_handler(ctx)
            else:
                ctx.reply("input.edit_ignored")
            return
        if event.platform_message_id and ctx.uow.threads.post_by_source(ctx.account.id,
                                                                         event.platform_message_id):
            # The platform delivered this message again (a crash before it was confirmed):
            # it is already a post, and publishing it twice would be confusing.
            log.info("dropped a redelivered message that is already a post")
            return
        parsed = parse_command(text)
        if parsed is not None:
            self._command(ctx, *parsed)
            return
        if looks_like_command(text):
            # "/", "//", "/ threads", "!": a mistyped command, never a post.
            ctx.reply("hard.command_unparsed")
            return
        if ctx.person.consent_at is None:
            ctx.reply("onboarding.need_start")
            return
        ctx.args = text
        if event.reply_to_message_id and self.router.reply_handler is not None:
            self.router.reply_handler(ctx)
        elif self.router.text_handler is not None:
            self.router.text_handler(ctx)
        else:
            ctx.reply("command.hint")

    def _command(self, ctx: Context, name: str, args: str) -> None:
        spec = self.router.commands.get(name)
        if spec is None:
            ctx.reply("command.unknown", command=name[:32])
            return
        if not spec.before_consent and ctx.person.consent_at is None:
            ctx.reply("onboarding.need_agree")
            return
        if spec.needs_member:
            member = ctx.member
            if member is None or not member.pseudonym:
                ctx.reply("onboarding.need_join" if member is None else "onboarding.need_name")
                return
        ctx.command, ctx.args = spec.name, args
        if spec.needs_args and not args.strip():
            ctx.usage()
            return
        log.debug("command %s", spec.name)
        spec.func(ctx)


def busy_answer(event: IncomingEvent) -> dict | None:
    """The "send it again in a moment" answer, with what they wrote quoted back.

    Quoted rather than kept to be replayed later: a kept event would live only in memory
    (gone at a restart, which is when databases fail), a replay would have to hold back that
    person's later messages behind a database that may stay away, and a post appearing
    minutes after the person gave up on it would surprise them. Quoted, nothing they typed
    is lost, and they decide when to send it again."""
    if event.kind in (Kind.BLOCKED, Kind.UNBLOCKED):
        return None     # nobody to answer (or they will be marked reachable at their next message)
    text = (event.text or "").strip()
    if event.kind in (Kind.MEDIA, Kind.FORWARD) or not text:
        return {"key": "scale.busy", "params": {}}
    key = "scale.busy_edit" if event.kind is Kind.EDIT else "scale.busy_text"
    return {"key": key, "params": {"text": text}}
