"""`help` is built from the router: every command (also those other features add) has a help
entry in both languages, shows in its section, and a missing argument gets the usage."""
from __future__ import annotations

import re
import string

import pytest

from bot.i18n import I18n
from handlers import build_router
from handlers.onboarding import HELP_SECTIONS
from tests.harness import Harness

SECTIONS = {*HELP_SECTIONS, "consultant"}
# A number placeholder followed by one of these words must be the {count} of a plural entry.
COUNTED = re.compile(r"\{(\w+)\}[ \t]+(?:new[ \t]+|nye[ \t]+|nytt[ \t]+)?(posts?|innlegg|characters?|tegn|copies|kopier|"
                     r"days?|dager|dag|threads?|tråder|tråd|members?|medlemmer|people|personer|"
                     r"minutes?|minutter|hours?|timer|replies|svar|unread|uleste|ulest|"
                     r"reports?|rapporter|drafts?|utkast|attendees?|deltakere)\b", re.IGNORECASE)


@pytest.fixture
def h(make_runtime) -> Harness:
    return Harness(make_runtime())


def test_every_command_has_a_section_and_help_in_both_languages() -> None:
    i18n = I18n()
    router = build_router()
    for spec in router.specs():
        assert spec.group in SECTIONS, f"/{spec.name}: tag it with group= one of {sorted(SECTIONS)}"
        for lang in ("en", "nb"):
            text = i18n.catalogues[lang].get(f"help.cmd.{spec.name}")
            assert isinstance(text, str) and text, f"help.cmd.{spec.name} missing in {lang}"
            # the overview shows the first line: it must name the command it describes
            assert text.split("\n", 1)[0].startswith(f"/{spec.name}"), (lang, spec.name)
        assert i18n.has(f"help.section.{spec.group}")


def test_each_commands_help_opens_with_its_usage_and_what_it_does() -> None:
    """The overview shows each entry's first line: "/name <args> – what it does", so a reader
    scanning the list sees the same shape everywhere, in both languages."""
    i18n = I18n()
    shape = re.compile(r"^/\S+.*? – \S")
    for spec in build_router().specs():
        for lang in ("en", "nb"):
            first = i18n.t(lang, f"help.cmd.{spec.name}").split("\n", 1)[0]
            assert shape.match(first), f"{lang} help.cmd.{spec.name}: {first!r}"


def test_counts_use_plural_entries() -> None:
    i18n = I18n()
    for lang in ("en", "nb"):
        for key, entry in i18n.catalogues[lang].items():
            if isinstance(entry, tuple):
                assert "{count}" in entry[-1], f"{key} ({lang}): the plural form must show {{count}}"
                continue
            assert "{count}" not in entry, f"{key} ({lang}) has a count but no plural forms"
            found = COUNTED.search(entry)
            assert found is None, f"{key} ({lang}): '{found.group(0)}' needs a plural entry with {{count}}"


def test_plural_forms_come_out_right() -> None:
    i18n = I18n()
    assert i18n.t("en", "thread.posts_count", count=1) == "1 post"
    assert i18n.t("en", "thread.posts_count", count=2) == "2 posts"
    assert i18n.t("nb", "thread.unread_count", count=1) == "1 ulest"
    assert i18n.t("nb", "thread.unread_count", count=3) == "3 uleste"


async def test_overview_lists_every_command_by_section_in_the_persons_language(h: Harness) -> None:
    await h.say("ann", "/help")
    text = h.last("ann")
    router = h.rt.app.router
    for spec in router.specs():
        if spec.group != "consultant":
            assert f"/{spec.name}" in text, spec.name
    assert text.index("Getting started") < text.index("Threads") < text.index("Notifications")
    assert "For the consultant" not in text
    assert "Emergency: 113" in text
    await h.say("ann", "/language nb")
    await h.say("ann", "/help")
    text = h.last("ann")
    assert "Kom i gang" in text and "Tråder" in text and "Varsler" in text
    assert "Getting started" not in text and "What you can do" not in text


async def test_consultant_section_only_for_consultants(h: Harness) -> None:
    await h.onboard("lillian", "Lillian")
    await h.onboard("ann", "Birch")
    await h.say("lillian", "/help")
    await h.say("ann", "/help")
    assert "For the consultant" in h.last("lillian")
    assert "For the consultant" not in h.last("ann")


async def test_commands_a_feature_adds_appear_in_help(h: Harness) -> None:
    from bot.router import Context, CommandSpec

    def noop(ctx: Context) -> None:
        return None

    router = h.rt.app.router
    router.commands["carpool"] = CommandSpec("carpool", noop, group="cafes")
    h.rt.i18n.catalogues["en"]["help.cmd.carpool"] = "/carpool <cafe> – share a lift to a café"
    await h.say("ann", "/help")
    cafes_section = h.last("ann").split("\nCafés\n", 1)[1].split("\n\n", 1)[0]
    assert "/carpool <cafe> – share a lift to a café" in cafes_section.split("\n")
    await h.say("ann", "/help carpool")
    assert h.last("ann").startswith("/carpool <cafe> – share a lift")


@pytest.mark.parametrize("line, usage", [
    ("/read", "/read <thread> – open a thread"),
    ("/read abc", "/read <thread> – open a thread"),
    ("/reply", "/reply <thread> <text>"),
    ("/new", "/new <title> – start a thread"),
    ("/report", "/report <post> [reason]"),
    ("/follow", "/follow [thread]"),
    ("/mute x", "/mute [thread]"),
    ("/community", "/community <name>"),
    ("/join", "/join <code>"),
])
async def test_a_missing_argument_gets_the_usage(h: Harness, line: str, usage: str) -> None:
    await h.onboard("ann", "Birch")
    await h.say("ann", line)
    answer = h.last("ann")
    assert usage in answer
    assert "?" not in answer.replace("[", "").split("\n")[0] or "Example" in answer
    assert "no thread ?" not in answer and "no post ?" not in answer


async def test_help_for_one_command_and_for_an_unknown_one(h: Harness) -> None:
    await h.say("ann", "/help pause")
    assert h.last("ann").startswith("/pause <days>|off – take a break")
    assert "Example: /pause 7" in h.last("ann")
    await h.say("ann", "/help /språk")            # an alias names its command
    assert h.last("ann").startswith("/language en|nb")
    await h.say("ann", "/help frobnicate")
    assert "no help for \"frobnicate\"" in h.last("ann")


def test_help_overview_placeholders_are_all_filled() -> None:
    i18n = I18n()
    for lang in ("en", "nb"):
        fields = {f for _, f, _, _ in string.Formatter().parse(i18n.catalogues[lang]["help.overview"]) if f}
        assert fields == {"sections", "contacts"}
