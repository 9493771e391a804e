"""Social-media accounts written as people write them in chat: "snapen min e kaja.b_02",
"add me on snap tor.v99", "insta: lina.draws_", "dm me on dc, name is grey.wolf.11".

Part of the disclosure detector (moderation/disclosure_detect.py). Two things together make
an account: a platform, named the way people name it (snap, insta, ig, tiktok, dc, face, fb,
with Norwegian endings: "snapen", "tiktoken", "ig'en"), and near it in the same sentence a
word shaped like a user name — digits, "_" or "." inside a name, which ordinary words do not
have. A platform alone ("I deleted snap") or an ordinary word near it ("insta is making me
sad") is no account.
"""
from __future__ import annotations

import re

Hit = tuple[str, int]          # the part of the text to quote, and where it starts

# Platform words, informal and formal, each with the Norwegian definite endings.
_PLATFORM_STEMS = (r"snap|snapchat|snæp|insta|instagram|ig|tiktok|tik tok|dc|discord|face|facebook|fb|twitter|"
                   r"telegram|tg|kik|steam|psn|xbox|twitch|reddit|threads|bsky|bluesky|mastodon|youtube|yt|"
                   r"messenger|whatsapp|wickr|skype|vsco|bereal|pinterest|tumblr|linkedin|roblox|fortnite|epic|"
                   r"minecraft|battlenet|battle\.net")
PLATFORM = re.compile(rf"(?<![\w@./])(?:{_PLATFORM_STEMS})(?:'?en|'?n|pen|men|'?et|'?a)?(?![\w@])", re.I)
# "igjen" misspelt "igen" (again) is not Instagram.
_NOT_PLATFORM = frozenset({"igen", "facen", "epicen"})
# A word that could be a user name: letters with digits, "_" or "." inside ("kaja.b_02",
# "sol.skinn22", "ravnsvart_"). Domains ("vg.no"), abbreviations ("f.eks", "bl.a", "kl.21")
# and short product names ("ps5", "mp3") are not.
_TOKEN = re.compile(r"(?<![\w@./:#-])@?([A-Za-zÆØÅæøå][\wÆØÅæøå.]{2,29})(?![\w@/#:-])")
_DOMAIN_END = re.compile(r"\.(?:com|no|org|net|se|dk|fi|uk|io|de|me|info|edu|gov|nu|tv|app|html?)$", re.I)
_ABBREVIATION = re.compile(r"^(?:[a-zæøå]{1,3}\.\d+|(?:[a-zæøå]{1,3}\.)+[a-zæøå]{0,3})$", re.I)
_SENTENCE_END = re.compile(r"[.!?]\s|\n|[;]")
NEAR = 45           # characters between the platform word and the name


def handle_shaped(word: str) -> bool:
    word = word.rstrip(".")
    if len(word) < 4 or sum(c.isalpha() for c in word) < 2:
        return False
    if _DOMAIN_END.search(word) or _ABBREVIATION.match(word):
        return False
    if re.search(r"\d\.\d", word) and "_" not in word:        # "python3.11": a version
        return False
    marked = "_" in word or "." in word.strip(".")
    has_digit = any(c.isdigit() for c in word)
    return marked or (has_digit and len(word) >= 5)


def _same_sentence(between: str) -> bool:
    return _SENTENCE_END.search(between) is None


def chat_handles(text: str) -> list[Hit]:
    """A platform word with a user-name-shaped word after it (or just before it, "sol.skinn22
    på snap") in the same sentence."""
    found: list[Hit] = []
    platforms = [m for m in PLATFORM.finditer(text) if m.group().casefold() not in _NOT_PLATFORM]
    if not platforms:
        return found
    tokens = [m for m in _TOKEN.finditer(text) if handle_shaped(m.group(1))]
    for p in platforms:
        for t in tokens:
            if t.start() >= p.end():
                gap = text[p.end():t.start()]
                if len(gap) <= NEAR and (_same_sentence(gap) or _ASKED.fullmatch(gap)):
                    found.append((text[p.start():t.end()].rstrip("."), p.start()))
                    break
            elif t.end() <= p.start():
                gap = text[t.end():p.start()]
                if len(gap) <= 12 and _AFTER_NAME.fullmatch(gap):
                    found.append((text[t.start():p.end()], t.start()))
                    break
    return found


# "snap?? sigve.h00": a question mark right after the platform asks for the name that follows.
_ASKED = re.compile(r"\s*[?!:=]+\s*")
# "finn meg på insta, heter sigvehh": a plain word counts when the text says it is the name.
_NAMED_AS = re.compile(r"\s*,?\s*(?:og\s+|and\s+)?(?:jeg\s+|i\s+)?(?:heter|kalt|called|am called|name is|name's|"
                       r"navnet er|navn|brukernavn|brukernavnet er|username|username is|user)\s*:?\s*(?:jeg\s+|eg\s+)?@?"
                       r"([A-Za-zÆØÅæøå][\wÆØÅæøå.]{2,29})(?![\w@])", re.I)
_NOT_NAME = frozenset("""det den noe noen something it the that this same samme likt like as som bare just jeg eg
meg du deg me you""".split())


def named_after_platform(text: str) -> list[Hit]:
    found: list[Hit] = []
    for p in PLATFORM.finditer(text):
        if p.group().casefold() in _NOT_PLATFORM:
            continue
        window = text[p.end():p.end() + 25]
        cue = re.search(r"\s(?:heter|kalt|called|name|navn|brukernavn|username|user)", window, re.I)
        if cue is None:
            continue
        m = _NAMED_AS.match(text, p.end() + cue.start())
        if m and m.group(1).casefold() not in _NOT_NAME and _same_sentence(text[p.end():m.start(1)]):
            found.append((text[p.start():m.end()], p.start()))
    return found


# "sigve.h00 på snap", "sigve.h00 (snap)", "sigve.h00 - insta"
_AFTER_NAME = re.compile(r"\s*[(\[\-–:]?\s*(?:on|at|på|i|in)?\s*", re.I)
# "add me: sigve_h00", "adda meg sigve.h00": asking to be added names an account, platform or not.
_ADD_ME = re.compile(r"\b(?:add|adde|adda|legg til|follow|følg|dm|msg|message|find|finn|search|søk opp|sjekk ut)\s+"
                     r"(?:me|meg)\b", re.I)


def asked_to_add(text: str) -> list[Hit]:
    found: list[Hit] = []
    for m in _ADD_ME.finditer(text):
        for t in _TOKEN.finditer(text, m.end(), min(len(text), m.end() + 30)):
            if handle_shaped(t.group(1)) and _same_sentence(text[m.end():t.start()]):
                found.append((text[m.start():t.end()], m.start()))
                break
    return found
