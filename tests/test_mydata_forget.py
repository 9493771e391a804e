"""mydata holds every row about the person and nothing that names others; forget erases it all."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from handlers.privacy import finish_erasures
from storage import personal_data
from storage.models import Account, Base, Member, Person, Post
from tests.harness import Harness


@pytest.fixture
async def h(make_runtime) -> Harness:
    h = Harness(make_runtime())
    await h.onboard("ann-id", "Birch")
    await h.onboard("bob-id", "Willow")
    await h.onboard("cat-id", "Moss")
    await h.say("ann-id", "/new Sleep\nI lie awake most nights")
    await h.say("bob-id", "/reply 1 Same here, it helps to read")
    await h.say("ann-id", "/reply 1 Thank you Willow")
    await h.say("cat-id", "/report 1 just checking")
    await h.say("ann-id", "/report 2 not sure about this")
    return h


def _document(h: Harness, name: str) -> dict:
    docs = [m.document for m in h.transport().sent[name] if m.document]
    assert docs, "no file was sent"
    file_name, content = docs[-1]
    assert file_name.endswith(".json")
    return json.loads(content)


def _rows_about(h: Harness, person_id: int) -> dict[str, int]:
    """Counted straight from the database, table by table."""
    counts: dict[str, int] = {}
    with h.rt.db.uow() as uow:
        refs = personal_data.refs_of(uow.session, person_id)
        for table in Base.metadata.sorted_tables:
            cond = personal_data._matches(table, refs, personal_data.referring_columns(table))
            if cond is not None:
                n = len(uow.session.execute(select(table).where(cond)).all())
                if n:
                    counts[table.name] = n
    return counts


def _person(h: Harness, pseudonym: str) -> int:
    with h.rt.db.uow() as uow:
        return uow.session.scalar(select(Member.person_id).where(Member.pseudonym == pseudonym))


async def test_mydata_has_every_row_about_me_and_nothing_that_names_others(h: Harness) -> None:
    person_id = _person(h, "Birch")
    await h.say("ann-id", "/card name Annelise")
    await h.say("ann-id", "/tell consultant can we talk friday")
    await h.say("bob-id", "/card name Bjarne")
    await h.say("ann-id", "/reveal to Willow")
    await h.say("bob-id", f"/accept {h.last('bob-id').split('/accept ')[1].split()[0]}")
    assert "Birch (Annelise)" in h.last("bob-id")
    await h.say("ann-id", "/reveal community")
    with h.rt.db.uow() as uow:
        member_id = uow.session.scalar(select(Member.id).where(Member.pseudonym == "Birch"))
        uow.drafts.keep(member_id, "a draft I kept back", "kept", title="A title I typed")
    before = _rows_about(h, person_id)
    await h.say("ann-id", "/mydata")
    doc = _document(h, "ann-id")
    tables = doc["tables"]
    for table, count in before.items():
        if table in ("reports", "mod_queue"):
            continue            # reports about my posts are counted, not listed (they name the reporter)
        assert len(tables.get(table, [])) >= count, table
    text = json.dumps(doc, ensure_ascii=False)
    assert "I lie awake most nights" in text and "Thank you Willow" in text
    assert "ann-id" in text                       # my own platform identity, for me only
    assert "bob-id" not in text and "cat-id" not in text
    assert "Same here" not in text                # others' posts are not mine
    # what I typed is sealed at rest, and opened for me in my own file
    assert {"body": "a draft I kept back", "title": "A title I typed"}.items() <= tables["drafts"][0].items()
    assert tables["identity_cards"][0]["card"] == {"name": "Annelise", "contact": None}
    assert any(item["body"] == "can we talk friday" for item in tables["mod_queue"])
    reveals = tables["reveals"]
    assert any({"by_you": True, "scope": "card", "to_pseudonym": "Willow"}.items() <= r.items() for r in reveals)
    assert any(r.get("from_pseudonym") == "Willow" and not r["by_you"] for r in reveals)
    assert any(r.get("to_whole_group") and r["scope"] == "community" for r in reveals)
    assert any("/forget" in line for line in doc["kept"]["explained"])
    assert "Bjarne" not in text                   # the card Willow showed me is theirs, not mine
    assert "encrypted" not in json.dumps(tables["drafts"] + tables["identity_cards"] + tables["mod_queue"])
    reports = tables["reports"]
    assert {"post_id": 2, "reason": "not sure about this"}.items() <= reports[0].items()
    assert {"reports_about_your_posts": 1} in reports
    assert "just checking" not in text            # the reason Moss gave would point at Moss
    assert all(item["kind"] != "report" for item in tables.get("mod_queue", []))


async def test_forget_needs_confirmation_in_time(h: Harness) -> None:
    await h.say("ann-id", "/forget confirm")
    assert "Nothing to confirm" in h.last("ann-id")
    await h.say("ann-id", "/forget")
    h.rt.clock.advance(minutes=11)
    await h.say("ann-id", "/forget confirm")
    assert "Nothing to confirm" in h.last("ann-id")
    with h.rt.db.uow() as uow:
        assert uow.session.scalar(select(Member).where(Member.pseudonym == "Birch")) is not None


async def test_forget_erases_me_and_edits_every_copy(h: Harness) -> None:
    person_id = _person(h, "Birch")
    await h.say("ann-id", "/forget")
    await h.say("ann-id", "/forget confirm")
    assert "Everything about you is erased" in h.last("ann-id")
    for other in ("bob-id", "cat-id"):
        edited = [m for m in h.transport().sent[other] if m.edits]
        for m in h.transport().sent[other]:
            assert "I lie awake" not in m.text and "Thank you Willow" not in m.text, other
        assert any("[removed]" in m.text for m in h.transport().sent[other])
        assert len([m for m in edited if m.text.endswith("\n[removed]")]) == 2     # her two posts
        assert all("Birch" not in m.text and "Sleep" not in m.text for m in edited)
    # Willow's reply stays, but the copy Moss has no longer shows the title Birch gave the thread.
    [reply] = [m for m in h.transport().sent["cat-id"] if "Same here, it helps to read" in m.text]
    assert reply.edits and "Sleep" in reply.edits[0] and "Sleep" not in reply.text
    assert "Same here, it helps to read" in "\n".join(h.inbox("ann-id"))   # I had received it
    with h.rt.db.uow() as uow:
        finish_erasures(uow)
    assert _rows_about(h, person_id) == {}
    with h.rt.db.uow() as uow:
        assert uow.session.get(Person, person_id) is None
        bodies = [p.body for p in uow.session.scalars(select(Post))]
        assert "Same here, it helps to read" in bodies          # others' replies stay
        assert not any(b and ("lie awake" in b or "Thank you Willow" in b) for b in bodies)
        assert all(m.pseudonym != "Birch" for m in uow.session.scalars(select(Member)))
    h.clear()
    await h.say("bob-id", "/read 1")
    shown = "\n".join(h.inbox("bob-id"))
    assert "[removed]" in shown and "Same here" in shown and "Birch" not in shown
    assert "Sleep" not in shown                   # the title she gave her thread went with her


async def test_after_forget_the_person_is_new(h: Harness) -> None:
    await h.say("ann-id", "/forget")
    await h.say("ann-id", "/forget confirm")
    await h.say("ann-id", "/me")                      # before the clean-up job ran
    with h.rt.db.uow() as uow:
        accounts = list(uow.session.scalars(select(Account)))
        assert len(accounts) == 3                     # ann's new account, bob, cat
    assert "Birch" not in h.last("ann-id")
    await h.say("ann-id", "/start")
    assert "/agree" in h.last("ann-id")


async def test_forget_also_edits_the_reply_lines_that_named_me(h: Harness) -> None:
    [mine] = [m for m in h.transport().sent["cat-id"] if "I lie awake" in m.text]
    await h.say("cat-id", "I know that feeling well", reply_to=mine.message_id)
    [reply] = [m for m in h.transport().sent["bob-id"] if "I know that feeling well" in m.text]
    assert "Birch" in reply.text                        # the reply line names whom it answers
    await h.say("ann-id", "/forget")
    await h.say("ann-id", "/forget confirm")
    assert "I know that feeling well" in reply.text     # cat's words stay…
    assert "Birch" not in reply.text and reply.edits    # …but no longer say whom they answered
    for other in ("bob-id", "cat-id"):
        assert not any("Birch" in m.text for m in h.transport().sent[other] if m.edits), other
