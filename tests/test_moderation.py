"""The consultant's work: queue, unanswered posts, acknowledgements, hide, sanctions, log, stats."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.transports.base import MemoryTransport
from storage.models import AuditEntry
from tests.conftest import test_config
from tests.harness import Harness


@pytest.fixture
def group(make_runtime, tmp_path):
    async def build(clock: FakeClock | None = None, **moderation):
        config = test_config(f"sqlite:///{tmp_path / 'mod.db'}")
        for key, value in moderation.items():
            setattr(config.moderation, key, value)
        config.bot.unanswered_hours = 6
        rt = make_runtime(transports={"memory": MemoryTransport("memory"), "other": MemoryTransport("other")},
                          clock=clock or FakeClock(), config=config)
        h = Harness(rt)
        await h.onboard("ann", "Birch")
        await h.onboard("bob", "Willow", platform="other")
        await h.onboard("cat", "Rowan")
        await h.onboard("lillian", "Lillian")       # the consultant named in the config
        h.clear()
        return rt, h
    return build


def posts_in(texts: list[str]) -> list[str]:
    return [t for t in texts if t.startswith("#") and " · p" in t.split("\n")[0]]


async def test_report_reaches_the_queue_with_age_and_an_alert_without_the_reporter(group) -> None:
    clock = FakeClock()
    rt, h = await group(clock)
    await h.say("ann", "/new Evenings\nI find evenings hard.")
    await h.say("bob", "/report p1 this worries me", platform="other")
    alert = h.last("lillian")
    assert "New in your queue: q1" in alert and "p1 by Birch" in alert and "I find evenings hard." in alert
    assert "q1 · report · just now" in alert and "0 minutes" not in alert
    assert "Willow" not in alert and "bob" not in alert
    buttons = h.transport().sent["lillian"][-1].buttons
    assert [b.command for b in buttons[0]] == ["/mod hide p1", "/mod ack p1", "/mod dismiss 1"]
    clock.advance(hours=3)
    await h.say("lillian", "/mod queue")
    listing = h.last("lillian")
    assert "1 item waiting" in listing and "q1 · report · 3 hours ago · p1 by Birch" in listing
    assert "this worries me" in listing and "Willow" not in listing
    assert all("Willow" not in t and "reported" not in t.split("\n")[0] for t in h.inbox("ann"))
    await h.say("lillian", "/mod dismiss 1 talked it through")
    await h.say("lillian", "/mod queue")
    assert h.last("lillian") == "The queue is empty. Nothing is waiting for you."


async def test_unanswered_after_the_configured_hours_until_acknowledged(group) -> None:
    clock = FakeClock()
    rt, h = await group(clock)
    await h.say("ann", "/new Sleep\nI slept badly again.")
    await h.say("lillian", "/mod unanswered")
    assert "Every post older than 6 hours has an answer." in h.last("lillian")
    clock.advance(hours=7)
    await h.say("lillian", "/mod unanswered")
    assert "1 post has no answer after 6 hours" in h.last("lillian")
    assert "p1 in #1 · 7 hours ago · Birch: “I slept badly again.”" in h.last("lillian")
    await h.say("lillian", "/mod ack p1 Thank you for telling us, Birch.")
    assert posts_in(h.inbox("ann"))[-1] == ("#1 Sleep · p2 · Lillian · consultant\n↪ replying to p1 (Birch)\n"
                                             "Thank you for telling us, Birch.")
    await h.say("lillian", "/mod unanswered")
    assert "Every post older than 6 hours has an answer." in h.last("lillian")


async def test_hide_edits_every_delivered_copy_and_tells_the_author(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new Work\nMy number is in here.")
    await h.say("lillian", "/mod hide p1 it could identify you")
    for name, platform in (("bob", "other"), ("cat", "memory"), ("lillian", "memory")):
        (copy,) = [m for m in h.transport(platform).sent[name] if m.text.startswith("#1 Work · p1")]
        assert copy.text.endswith("[hidden by the consultant]") and "My number" in copy.edits[0]
    notice = h.last("ann")
    assert "hidden your post p1" in notice and "it could identify you" in notice
    assert "My number is in here." in notice
    await h.say("lillian", "/mod unhide p1")
    (copy,) = [m for m in h.transport("other").sent["bob"] if m.text.startswith("#1 Work · p1")]
    assert copy.text.endswith("My number is in here.")


async def test_warnings_escalate_to_mutes_that_expire_and_drafts_keep_the_text(group) -> None:
    clock = FakeClock()
    rt, h = await group(clock)
    await h.say("ann", "/new Hello\nHi all")
    await h.say("lillian", "/mod warn Birch please keep it kind")
    assert "A note from the consultant: please keep it kind" in h.last("ann")
    assert "warning level 1" in h.last("lillian")
    await h.say("ann", "/reply 1 still posting")
    assert "Posted as p2" in h.last("ann")
    await h.say("lillian", "/mod warn Birch again, please")
    assert "warning 2" in h.last("ann") and "until 2026-01-05 14:00" in h.last("ann")   # 1 hour (Oslo time)
    await h.say("ann", "/reply 1 muted words")
    assert "kept as a draft" in h.last("ann")
    assert all("muted words" not in t for t in h.inbox("bob", "other"))
    await h.say("ann", "/tell consultant I am sorry, can we talk?")
    assert "Your message is with the consultant" in h.last("ann")
    assert "from Birch: “I am sorry, can we talk?”" in h.last("lillian")
    await h.say("ann", "/help")
    assert "The consultant usually answers weekdays 9–15." in h.last("ann")
    clock.advance(minutes=61)
    await h.say("ann", "/send")
    assert "Posted as" in h.last("ann")
    assert any("muted words" in t for t in h.inbox("bob", "other"))
    await h.say("lillian", "/mod warn Birch third time")
    assert "warning 3" in h.last("ann") and "2026-01-06" in h.last("ann")       # 24 hours
    await h.say("lillian", "/mod warn Birch fourth time")
    assert "a note is in your queue to consider removal" in h.last("lillian")
    await h.say("lillian", "/mod queue")
    assert "consider /mod remove Birch" in h.last("lillian")
    await h.say("ann", "/me")
    assert "Moderation: a warning" in h.last("ann") and "third time" in h.last("ann")


async def test_a_warning_level_decays_after_thirty_days(group) -> None:
    clock = FakeClock()
    rt, h = await group(clock)
    await h.say("lillian", "/mod warn Birch one")
    await h.say("lillian", "/mod warn Birch two")
    clock.advance(days=31)
    await h.say("lillian", "/mod warn Birch three")
    assert "warning level 2" in h.last("lillian")


async def test_ban_holds_for_every_linked_account_and_after_a_fresh_start(group) -> None:
    rt, h = await group()
    await h.say("ann", "/link")
    code = h.last("ann").split("link code is ")[1].split(".")[0]
    await h.say("ann", f"/link {code}", platform="other")
    assert "Linked." in h.last("ann", "other")
    await h.say("bob", "/new Linked\nDoes this reach Birch once?", platform="other")
    copies = [t for t in h.inbox("ann") + h.inbox("ann", "other") if t.startswith("#1 Linked")]
    assert len(copies) == 1 and copies[0] in h.inbox("ann", "other")      # the account last written from
    await h.say("ann", "/deliver here")
    await h.say("bob", "/reply 1 and now?", platform="other")
    assert [t for t in h.inbox("ann") if "and now?" in t] and not [t for t in h.inbox("ann", "other")
                                                                  if "and now?" in t]
    await h.say("ann", "/name --fresh Hazel")
    await h.say("lillian", "/mod ban Hazel threats")
    assert "closed ReConnect to you" in h.last("ann")
    assert "banned" in h.last("lillian")
    await h.say("ann", "/join WELCOME", platform="other")
    assert "You cannot join this group again" in h.last("ann", "other")
    await h.say("ann", "/unlink", platform="other")
    await h.say("ann", "/join WELCOME", platform="other")
    assert "You cannot join this group again" in h.last("ann", "other")
    await h.say("ann", "/threads")
    assert "Next step" in h.last("ann") or "join" in h.last("ann").casefold()
    await h.say("ann", "/appeal I think this was a misunderstanding")
    assert "Your appeal is with the consultant" in h.last("ann")
    await h.say("lillian", "/mod queue")
    assert "appeal" in h.last("lillian") and "misunderstanding" in h.last("lillian")


async def test_log_lists_actions_with_reasons_and_no_platform_identity(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new Topic\ntext")
    await h.say("lillian", "/mod warn Birch be kind")
    await h.say("lillian", "/mod lock 1")
    await h.say("lillian", "/mod log")
    log = h.last("lillian")
    lock_entry = next(line for line in log.split("\n") if "locked a thread" in line).split(" · ")[0]
    await h.say("lillian", f"/mod reason {lock_entry} heated discussion")
    await h.say("lillian", "/mod log")
    log = h.last("lillian")
    assert "warning · Birch · by Lillian · level 1: be kind" in log
    assert "locked a thread · #1 · by Lillian · heated discussion" in log
    assert "reason added" not in log          # merged into the entry it explains
    for ident in ("ann", "bob", "lillian", "memory:", "other:"):
        assert ident not in log
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(select(AuditEntry)))
    for row in rows:
        assert "text" not in (row.detail or "") and "ann" not in (row.detail or "")


async def test_stats_hide_small_counts(group) -> None:
    clock = FakeClock()
    rt, h = await group(clock)
    await h.say("ann", "/new One\nfirst")
    await h.say("bob", "/reply 1 second", platform="other")
    await h.say("lillian", "/mod stats")
    stats = h.last("lillian")
    assert "Members who wrote: fewer than 3" in stats and "Posts: fewer than 3" in stats
    assert "Median time to the first answer (hours): fewer than 3" in stats
    await h.say("cat", "/reply 1 third")
    await h.say("lillian", "/mod stats")
    assert "Members who wrote: 3" in h.last("lillian") and "Posts: 3" in h.last("lillian")


async def test_premoderation_holds_a_newcomers_first_post_until_approved(group) -> None:
    rt, h = await group(premoderate_first_posts=1)
    await h.say("ann", "/new First\nmy first words")
    assert "waits for the consultant" in h.last("ann")
    assert not posts_in(h.inbox("bob", "other"))
    assert "waiting for approval" in h.last("lillian")
    await h.say("lillian", "/mod approve p1")
    assert posts_in(h.inbox("bob", "other")) == ["#1 First · p1 · Birch\nmy first words"]
    assert "now published" in h.last("ann")
    await h.say("ann", "/reply 1 second words")
    assert "Posted as p2" in h.last("ann")
    await h.say("cat", "/new Mine\nhold me")
    await h.say("lillian", "/mod reject p3 please leave out the address")
    assert "did not publish" in h.last("cat") and "hold me" in h.last("cat")
    assert not [t for t in h.inbox("bob", "other") if "hold me" in t]


async def test_alerts_off_and_topic_pinned_and_invite_limits(group) -> None:
    rt, h = await group()
    await h.say("lillian", "/mod alerts off")
    await h.say("ann", "/tell consultant hello")
    assert "New in your queue" not in h.last("lillian")
    await h.say("lillian", "/mod topic Small steps\nWhat was one small step this week?")
    await h.say("lillian", "/mod announce The café moves to 18:00")
    await h.say("ann", "/threads")
    assert h.last("ann").split("\n")[1].startswith("📌 #1 Small steps")
    assert any("The café moves to 18:00" in t for t in h.inbox("bob", "other"))
    await h.say("lillian", "/mod invite 1")
    code = h.last("lillian").split("New invite code: ")[1].split(" ")[0]
    await h.onboard("dan", "Alder")
    for line in ("/start", "/agree", f"/join {code}"):
        await h.say("eve", line)
    assert "ReConnect" in h.last("eve") or "Next step" in h.last("eve")
    for line in ("/start", "/agree", f"/join {code}"):
        await h.say("fay", line)
    assert "used up or has expired" in h.last("fay")


async def test_roles_are_re_synced_from_the_config_at_start_and_audited(make_runtime, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'roles.db'}"
    rt = make_runtime(url=url, config=test_config(url))
    h = Harness(rt)
    await h.onboard("lillian", "Lillian")
    await h.say("lillian", "/mod queue")
    assert "The queue is empty" in h.last("lillian")
    rt.db.engine.dispose()
    rt2 = make_runtime(url=url, config=test_config(url, consultants=["console:someone-else"]))
    h2 = Harness(rt2)
    await h2.say("lillian", "/mod queue")
    assert "That is for the group's consultant." in h2.last("lillian")
    with rt2.db.uow() as uow:
        actions = [e.action for e in uow.session.scalars(select(AuditEntry))]
    assert "role.sync_revoke" in actions


async def test_daily_summary_only_when_something_waits(group) -> None:
    from moderation.summary import send_summaries
    clock = FakeClock()
    rt, h = await group(clock)
    with rt.db.uow() as uow:
        assert send_summaries(uow, rt.config, clock.now()) == 0
    await h.say("ann", "/new Quiet\nanyone there?")
    clock.advance(hours=7)
    with rt.db.uow() as uow:
        assert send_summaries(uow, rt.config, clock.now()) == 1
    await rt.worker.drain()
    assert "1 post has no answer after 6 hours." in h.last("lillian")
    assert all("without an answer" not in t for t in h.inbox("ann"))


async def test_a_linked_person_gets_one_digest(group) -> None:
    from handlers.notifications import send_digests
    clock = FakeClock()
    rt, h = await group(clock)
    await h.say("ann", "/link")
    code = h.last("ann").split("link code is ")[1].split(".")[0]
    await h.say("ann", f"/link {code}", platform="other")
    await h.say("ann", "/notify digest", platform="other")
    clock.advance(minutes=5)
    await h.say("bob", "/new News\nsomething new", platform="other")
    with rt.db.uow() as uow:
        send_digests(uow, clock.now(), rt.config.bot.timezone)
    await rt.worker.drain()
    digests = [t for t in h.inbox("ann") + h.inbox("ann", "other") if "#1" in t and "News" in t]
    assert len(digests) == 1 and digests[0] in h.inbox("ann", "other")
