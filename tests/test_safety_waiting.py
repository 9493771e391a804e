"""Texts waiting for the disclosure answer, reached another way: a thread title, a platform
edit of the waiting message, ``send`` on the waiting draft."""
from __future__ import annotations

from bot.events import Kind
from tests.harness import Harness
from tests.test_safety_disclosure import buttons, everyone_else, group  # noqa: F401  (fixture)
from tests.test_threads import posts_in


async def threads_seen(h: Harness, name: str) -> str:
    await h.say(name, "/threads")
    return h.last(name)


async def test_a_phone_number_in_a_new_thread_title_is_asked_about_before_the_thread_exists(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new Ring meg 912 34 567\nHar noen lyst å prate?")
    assert "912 34 567" in h.last("ann") and "Nothing is shared" in h.last("ann")
    assert "912" not in await threads_seen(h, "bob")
    assert not everyone_else(h)
    await h.say("ann", buttons(h, "ann")["Send anyway"])
    assert "Ring meg 912 34 567" in await threads_seen(h, "bob")
    assert any("Har noen lyst å prate?" in p for p in posts_in(h.inbox("bob")))


async def test_the_corrected_title_and_post_are_published_in_place_of_the_asked_ones(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new Ring meg 912 34 567\nHar noen lyst å prate?")
    await h.say("ann", buttons(h, "ann")["Edit"])
    assert "first line" in h.last("ann")
    await h.say("ann", "Noen som vil prate?\nSkriv her i tråden")
    listing = await threads_seen(h, "bob")
    assert "Noen som vil prate?" in listing and "912" not in listing
    shown = posts_in(h.inbox("bob"))
    assert any("Skriv her i tråden" in p for p in shown) and not any("912" in p for p in shown)


async def test_a_title_alone_with_a_phone_number_is_asked_about_and_cancel_keeps_nothing(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new zed@example.org skriv til meg")
    assert "zed@example.org" in h.last("ann")
    await h.say("ann", buttons(h, "ann")["Cancel"])
    assert "zed@example.org" not in await threads_seen(h, "bob")
    await h.say("ann", "/drafts")
    assert "zed@example.org" not in h.last("ann")


async def test_a_platform_edit_of_the_waiting_message_is_the_correction(group) -> None:
    rt, h = await group()
    await h.say("ann", "Call me on 912 34 567 if you want", message_id="m-1")
    assert "912 34 567" in h.last("ann")
    await h.say("ann", "Write to me here in the thread if you want", kind=Kind.EDIT, message_id="m-1")
    shown = posts_in(h.inbox("bob"))
    assert len(shown) == 1 and "Write to me here" in shown[0]
    await h.say("ann", "/drafts")
    assert "912" not in h.last("ann")


async def test_a_platform_edit_that_still_has_a_detail_is_asked_about_again(group) -> None:
    rt, h = await group()
    await h.say("ann", "Call me on 912 34 567 if you want", message_id="m-2")
    await h.say("ann", "Mail me instead, zed@example.org", kind=Kind.EDIT, message_id="m-2")
    assert "zed@example.org" in h.last("ann") and "Nothing is shared" in h.last("ann")
    assert not everyone_else(h)
    await h.say("ann", "Just write here then", kind=Kind.EDIT, message_id="m-2")   # edited once more
    assert any("Just write here then" in p for p in posts_in(h.inbox("bob")))
    assert not any("912" in t or "zed@" in t for t in h.inbox("bob"))


async def test_send_on_the_waiting_draft_asks_again_rather_than_publishing(group) -> None:
    rt, h = await group()
    await h.say("ann", "Call me on 912 34 567 if you want")
    draft = buttons(h, "ann")["Cancel"].split()[-1]
    await h.say("ann", f"/send {draft}")
    assert "912 34 567" in h.last("ann") and "Nothing is shared" in h.last("ann")
    assert not everyone_else(h)
    await h.say("ann", buttons(h, "ann")["Send anyway"])
    assert any("912 34 567" in p for p in posts_in(h.inbox("bob")))


# -- a closed thread (``new closed``) goes through the same checks as ``new`` ----------------------

async def test_a_detail_in_a_closed_thread_title_is_asked_about_before_the_thread_exists(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new closed Ring meg 912 34 567\nBare for oss to")
    assert "912 34 567" in h.last("ann") and "Nothing is shared" in h.last("ann")
    assert "912" not in await threads_seen(h, "ann")
    await h.say("ann", buttons(h, "ann")["Send anyway"])
    assert "Ring meg 912 34 567" in await threads_seen(h, "ann")
    assert "912" not in await threads_seen(h, "bob")              # still a closed thread
    assert not everyone_else(h)


async def test_a_corrected_closed_thread_stays_closed(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new closed Just us\nmail me at zed@example.org")
    assert "zed@example.org" in h.last("ann")
    await h.say("ann", buttons(h, "ann")["Edit"])
    await h.say("ann", "Just us two\nwrite to me here instead")
    assert "Just us two" in await threads_seen(h, "ann")
    assert "Just us two" not in await threads_seen(h, "bob")
    assert not everyone_else(h)


async def test_crisis_language_in_a_closed_thread_title_is_answered(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new closed I want to kill myself tonight")
    assert any("carry it alone" in t for t in h.inbox("ann"))
    assert h.inbox("lillian")                                    # the consultant is alerted


# -- one waiting question per published post -------------------------------------------------------

async def waiting_drafts(h: Harness) -> str:
    await h.say("ann", "/drafts")
    return h.last("ann")


async def published_then_edited_with_a_number(h: Harness, message_id: str) -> str:
    """A clean post, then a platform edit that adds a phone number: returns the question's
    'Send anyway' command."""
    await h.say("ann", "Hope you all sleep well", message_id=message_id)
    await h.say("ann", "Sleep well, text me on 912 34 567", kind=Kind.EDIT, message_id=message_id)
    return buttons(h, "ann")["Send anyway"]


async def test_a_second_platform_edit_replaces_the_waiting_question_about_the_first(group) -> None:
    rt, h = await group()
    first = await published_then_edited_with_a_number(h, "m-9")
    await h.say("ann", "Sleep well, or mail me, zed@example.org", kind=Kind.EDIT, message_id="m-9")
    assert "zed@example.org" in h.last("ann")
    listing = await waiting_drafts(h)
    assert "zed@example.org" in listing and "912" not in listing
    await h.say("ann", first)                                    # the answer to the replaced question
    assert not any("912" in t for t in h.inbox("bob"))
    await h.say("ann", buttons(h, "ann")["Send anyway"])
    assert any("zed@example.org" in t for t in h.inbox("bob"))
    assert not any("912" in t for t in h.inbox("bob"))


async def test_a_clean_later_edit_ends_the_waiting_question_about_an_earlier_one(group) -> None:
    rt, h = await group()
    first = await published_then_edited_with_a_number(h, "m-10")
    await h.say("ann", "Sleep well, all of you", kind=Kind.EDIT, message_id="m-10")
    assert any("all of you" in t for t in h.inbox("bob"))
    assert "912" not in await waiting_drafts(h)
    await h.say("ann", first)
    assert not any("912" in t for t in h.inbox("bob"))
