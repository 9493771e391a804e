"""E-mail addresses, profile links and user names: the accounts part of the disclosure
detector (moderation/disclosure_detect.py). Returns plain ``(kind, part, start)`` tuples.
Chat-style accounts ("snapen min e kaja.b_02") are found in moderation/detect_handles.py.
"""
from __future__ import annotations

import re

from moderation.detect_handles import asked_to_add, chat_handles, handle_shaped, named_after_platform

Hit = tuple[str, str, int]


def _end(hit: Hit) -> int:
    return hit[2] + len(hit[1])


# --- e-mail, handles, profile links -------------------------------------------------------------
_TLD = r"(?:com|no|org|net|se|dk|fi|uk|co\.uk|io|de|me|info|edu|gov)"
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)
_AT = r"(?:\s*[(\[{<]\s*(?:at|ætt|krøllalfa)\s*[)\]}>]\s*|\s+(?:at|ætt|krøllalfa|alfakrøll)\s+)"
_DOT = r"(?:\s*[(\[{<]\s*(?:dot|punktum|prikk)\s*[)\]}>]\s*|\s+(?:dot|punktum|prikk)\s+|\.)"
_EMAIL_SPOKEN = re.compile(rf"(?<![\w.@])([\w.+-]{{2,}}){_AT}([\w-]+(?:{_DOT}[\w-]+)*){_DOT}({_TLD})\b", re.I)
# "looked at vg.no" is reading a site, not an address: only spoken forms with a spelled-out
# "dot" or bracketed "(at)" count when the word before "at" is an ordinary word.
_NOT_LOCAL_PART = frozenset("""look looked looking laugh laughed laughing stare stared staring me us him her them it
this that here there work home mad angry good bad great best worst was were am is are be been news read reading
post posted article site page found saw see seen check checked go went sit sat""".split())
_LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|instagram\.com|instagr\.am|tiktok\.com|"
                   r"facebook\.com|fb\.com|fb\.me|m\.facebook\.com|twitter\.com|x\.com|snapchat\.com|"
                   r"linkedin\.com|youtube\.com/(?:@|c/|channel/|user/)|reddit\.com/u(?:ser)?/|threads\.net|"
                   r"matrix\.to|discord\.gg|discord\.com/users|vk\.com|pinterest\.com|tumblr\.com|twitch\.tv|"
                   r"github\.com|bsky\.app/profile|mastodon\.social|onlyfans\.com|wa\.me|signal\.me|"
                   r"snapchat\.com/add)/?[^\s,;)]+", re.I)
_MXID = re.compile(r"(?<![\w])@[a-z0-9._=/-]{2,}:[a-z0-9.-]+\.[a-z]{2,}", re.I)
_HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z_][A-Za-z0-9_.]{2,29})(?![\w@])")
_HANDLE_WORDS = frozenset("""home work the here everyone all channel admin cafe café kafe kafeen moderator mods
consultant konsulent konsulenten alle someone somebody noen school skolen night natt""".split())
_PLATFORMS = (r"(?:insta(?:gram)?|ig|snap(?:chat)?|sc|tiktok|tik tok|twitter|discord|dc|face|telegram|tg|kik|wickr|skype|"
              r"signal|whatsapp|facebook|fb|reddit|steam|xbox|psn|gamertag|threads|bsky|bluesky|mastodon|"
              r"twitch|youtube|yt|linkedin|messenger)")
_NAMED_ACCOUNT = re.compile(
    rf"\b{_PLATFORMS}(?:en|n|'en|'n|pen|men)?\s*(?:name|navn|id|handle|brukernavn|username|user|bruker|tag|konto|account)?"
    r"(?:\s+(?:min|mitt|mi|my))?\s*(?P<sep>:|=|-|\bis\b|\ber\b|\be\b|\bsom\b|\bas\b)\s*@?([A-Za-z0-9_.]{3,30})", re.I)
# "my snap is sunflower" names an account; "insta is making me sad" does not: after a verb, a
# plain word counts only when the writer says the account is theirs ("my", "snapen min").
_POSSESSIVE = re.compile(r"(?:\b(?:my|min|mitt|mi)\s+\S+\s*$)|(?:\b(?:min|mitt|mi|my)\b)", re.I)
# "my username on the forum is bluebird_1979": a name with digits, "_" or "." after a name word.
_USERNAME = re.compile(r"\b(?:user ?name|brukernavn(?:et)?|handle|nick(?:name)?|gamertag|screen ?name|kallenavn)"
                       r"(?:\s+[\wæøå]+){0,5}?\s*(?::|=|\bis\b|\ber\b)\s*@?([A-Za-z][A-Za-z0-9]*[_.0-9][A-Za-z0-9_.]*)",
                       re.I)
_ADD_ME = re.compile(rf"\b(?:add|find|follow|message|dm|legg til|følg|finn|send)\s+(?:me|meg)\s+(?:on|at|på)\s+"
                     rf"{_PLATFORMS}\s*(?::|\bas\b|\bsom\b)?\s*@?([A-Za-z0-9_.]{{3,30}})", re.I)
# "I'm on discord a lot, I'm on there as midnightknitter": after a platform named earlier in
# the post, "on there as" / "der som" names the account, however plain the word.
_THERE_AS = re.compile(r"\b(?:i'?m|i am|jeg er|eg er|eg e)\s+(?:on\s+there|there|on\s+it|på\s+der|der|på\s+den|"
                       r"inne\s+der)\s+(?:as|som)\s+@?([A-Za-z][A-Za-z0-9_.]{2,29})", re.I)
# "I'm on there as much as I can", "jeg er der som regel": a manner or amount, not a name.
_NOT_THERE_AS = frozenset("""much many often well usual always long little soon far good bad quickly
myself me regel vanlig mye ofte lite alltid meg deg selv""".split())
_PLATFORM_WORD = re.compile(rf"\b{_PLATFORMS}(?:en|n|'en|'n|pen|men)?\b", re.I)
_DISCRIMINATOR = re.compile(r"(?<![\w#@])(?!(?:issue|ticket|order|case|room|item|nr|no|sak|ordre|rom|bug|pr)#)"
                            r"[A-Za-z][\w.]{1,31}#\d{4}(?!\d)", re.I)
_NOT_ACCOUNT = frozenset("""not down private deleted gone off on the a my and but or if so too also og men ikke
privat slettet borte weird dead dying full quiet stille broken ødelagt is er where hvor my mitt min just bare
later senere""".split())


def accounts(text: str) -> list[Hit]:
    found = [("email", m.group(), m.start()) for m in _EMAIL.finditer(text)]
    for m in _EMAIL_SPOKEN.finditer(text):
        plain_at = not re.search(r"[(\[{<]", m.group()) and " dot " not in m.group().casefold() \
            and " punktum " not in m.group().casefold() and " prikk " not in m.group().casefold()
        if plain_at and m.group(1).casefold() in _NOT_LOCAL_PART:
            continue
        if not any(f[2] <= m.start() < _end(f) for f in found):
            found.append(("email", m.group(), m.start()))
    found += [("link", m.group(), m.start()) for m in _LINK.finditer(text)]
    found += [("handle", m.group(), m.start()) for m in _MXID.finditer(text)
              if not any(f[2] <= m.start() < _end(f) for f in found)]
    for m in _HANDLE.finditer(text):
        if m.group(1).casefold() in _HANDLE_WORDS or any(f[2] <= m.start() < _end(f) for f in found):
            continue
        found.append(("handle", m.group(), m.start()))
    for m in _DISCRIMINATOR.finditer(text):          # "rowanthefox#4821": an old-style Discord tag
        if not any(f[2] <= m.start() < _end(f) for f in found):
            found.append(("handle", m.group(), m.start()))
    for pattern in (_NAMED_ACCOUNT, _ADD_ME, _USERNAME):
        for m in pattern.finditer(text):
            group = (m.lastindex or 1) if pattern is _NAMED_ACCOUNT else 1
            name = m.group(group)
            if name.casefold() in _NOT_ACCOUNT or any(f[2] <= m.start(group) < _end(f) for f in found):
                continue
            if pattern is _NAMED_ACCOUNT and not _stated_account(text, m, name):
                continue
            found.append(("handle", m.group(), m.start()))
    for m in _THERE_AS.finditer(text):
        named_before = _PLATFORM_WORD.search(text, max(0, m.start() - 200), m.start())
        if named_before and m.group(1).casefold() not in _NOT_ACCOUNT | _NOT_THERE_AS and \
                not any(f[2] <= m.start(1) < _end(f) for f in found):
            found.append(("handle", m.group(), m.start()))
    for part, start in chat_handles(text) + asked_to_add(text) + named_after_platform(text):
        if not any(f[2] <= start < _end(f) or start <= f[2] < start + len(part) for f in found):
            found.append(("handle", part, start))
    return found


def _stated_account(text: str, m: re.Match[str], name: str) -> bool:
    if m.group("sep") in (":", "=", "-") or handle_shaped(name):
        return True
    if name.casefold().endswith("ing"):          # "my insta is making me anxious"
        return False
    return _POSSESSIVE.search(text[max(0, m.start() - 12):m.start("sep")]) is not None
