"""Answers that change nothing, sent while another process holds the database's write lock.

Every answer normally goes through the outbox: queued in the handler's transaction, sent and
recorded by the worker. That takes the write lock three times (the handler, the claim, the
record), so while another process held SQLite's write lock for 3 s, `/help` waited the
whole 3 s (issue 15). A command tagged ``read_only`` (help, me, threads, drafts) is first
tried the usual way with a very short wait; when that loses to a lock, it runs again in a
read-only transaction (WAL readers are never blocked) with its answers collected instead of
queued, and they are sent straight to the person's chat.

Why this exception to "everything through the outbox" is safe for these answers only:
- nothing is changed, so there is nothing for an edit or delete to find later, and a crash
  before the send loses an answer the person gets again by asking again;
- order: it is taken only when nothing else is on its way to that account in the direct
  lane, so it cannot overtake an earlier answer;
- a write the handler tries after all is refused by the database (``PRAGMA query_only`` /
  ``READ ONLY``), or found still unflushed in the session, and the command then takes the
  usual way and waits its turn;
- an answer the platform does not take at once (rate limit, outage) is queued in the outbox
  the usual way, as soon as the database takes it.
Someone who has never written before gets the answer too, from an account that is created
only at their next message (nothing else of theirs exists yet).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.events import IncomingEvent, Kind, Rendered
from bot.i18n import LANGUAGES
from bot.router import Context, clean_text, parse_command
from storage.db import is_contention, is_read_only_refusal
from storage.models import Account, Person
from storage.repo import DIRECT, Claimed

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
# The first, usual try waits this long for a lock: an answer should arrive within ~100 ms.
QUICK_WAIT_MS = 20

Answers = list[tuple[dict, Rendered]]


class UnwrittenAnswers:
    def __init__(self, app: "App") -> None:
        self.app = app
        self.count = 0         # answers sent this way (for tests and logs)

    def applies(self, event: IncomingEvent) -> bool:
        if event.kind is not Kind.TEXT:
            return False
        parsed = parse_command(clean_text(event.text or ""))
        spec = self.app.router.commands.get(parsed[0]) if parsed else None
        return spec is not None and spec.read_only

    async def answered(self, event: IncomingEvent) -> bool:
        """True when the event has been handled here (either way); False: handle it as usual."""
        if not self.applies(event):
            return False
        dbt = self.app.dbt
        try:
            runs = await dbt.run_bounded(QUICK_WAIT_MS, False, self.app._handle, event)
        except Exception as exc:
            if not is_contention(exc):
                raise
        else:
            self.app.worker.start_prepared(runs)
            return True
        try:
            answers = await dbt.run_bounded(0, True, self._answers, event)
        except Exception as exc:
            # A write after all (refused), or a lock even a reader met: the usual way.
            if not (is_read_only_refusal(exc) or is_contention(exc)):
                log.warning("read-only answer failed (%s); handled as usual", exc.__class__.__name__)
            return False
        if answers is None:
            return False
        sent = await self._send(event, answers)
        if sent < len(answers):
            await dbt.retrying(self.app.queue_answers, event, [payload for payload, _ in answers[sent:]])
        self.count += 1
        log.info("database busy: a read-only command was answered without writing")
        return True

    def _answers(self, event: IncomingEvent) -> Answers | None:
        """Run the handler in a read-only transaction; its answers, rendered. None when the
        account's state needs a write first or an earlier answer is still on its way."""
        app = self.app
        with app.db.uow() as uow, uow.session.no_autoflush:
            account = uow.accounts.find(event.user.platform, event.user.user_id)
            if account is None:
                lang = event.user.language if event.user.language in LANGUAGES else None
                person = Person(language=lang or app.config.bot.default_language, notify="all", discreet=False)
                account = Account(platform=event.user.platform, reachable=True)
            else:
                person = uow.people.get(account.person_id)
                if (person is None or person.pending_action == "erased" or not account.reachable
                        or uow.outbox.has_unfinished(account.id, DIRECT)):
                    return None
            ctx = Context(uow=uow, account=account, person=person, user=event.user, event=event,
                          config=app.config, clock=app.clock, services=app.services, replies=[])
            app._route(ctx, event)
            session = uow.session
            if session.new or session.deleted or any(session.is_modified(o) for o in session.dirty):
                return None     # it changed something after all (unflushed): the usual way
            renderer = app.worker.renderer
            answers = [(payload, renderer.render(uow, Claimed(0, account.id or 0, DIRECT, "send", "msg",
                                                                 payload, None, None, 0), account, person))
                       for payload in ctx.replies or []]
            uow.session.rollback()      # whatever the handler touched in memory is not kept
        return [(payload, rendered) for payload, rendered in answers if rendered is not None]

    async def _send(self, event: IncomingEvent, answers: Answers) -> int:
        """Send in order; how many went out (the first refusal ends it: order is kept)."""
        sent = 0
        for _, rendered in answers:
            try:
                await self.app.send_direct(event, rendered)
            except Exception as exc:
                log.info("a read-only answer was not taken at once (%s); it is queued", exc.__class__.__name__)
                break
            sent += 1
        self.app.worker.sent += sent
        return sent
