"""A whole console session in Norwegian: no English text in any answer (command names and
their keyword arguments aside), and the Norwegian emergency line, not the English one."""
from __future__ import annotations

import re
from pathlib import Path

from tests.test_console import messages_for, run_console

SESSION = """kari: /start
kari: /agree
kari: /join WELCOME
kari: /name Bjørk
kari: /threads
kari: /new Lange kvelder \\
Hvordan har dere det om kveldene?
ola: /start
ola: /agree
ola: /join WELCOME
ola: /name Selje
ola: /threads
ola: /read 1
ola: Jeg tenner lys.
kari: /edit p1 Hvordan har dere det om kvelden?
kari: /help
kari: /help quiet
kari: /read
kari: /follow x
kari: /report
kari: /quiet 22:00-07:00
kari: /quiet off
kari: /discreet on
kari: /discreet off
kari: /pause 3
kari: /pause off
kari: /me
kari: /more
ola: /delete p2
ola: /report p1 Det står et navn der
ola: /follow 1
ola: /mute 1
ola: /notify digest
ola: /notify all
ola: /language
ola: /name B
ola: /join FEIL
ola: /frobnicate
ola: /send
ola: /reply 99 hei
lillian: /start
lillian: /agree
lillian: /join WELCOME
lillian: /name Lillian
lillian: /help
"""
ENGLISH = re.compile(r"\b(the|and|you|your|is|are|of|with|not|this|that|post|posts|thread|threads|"
                     r"has|have|was|will|can|there|what|who|nothing|someone|consultant|weekdays|"
                     r"emergency|helpline|please|sorry|here|reply|draft|unread|quiet|hours|every)\b",
                     re.IGNORECASE)
# Command names and the keywords typed after them stay as they are in every language.
COMMANDS = re.compile(r"[/!][\w-]+(?:[ ]+(?:on|off|all|following|digest|here|auto|confirm|series|consultant|"
                      r"--fresh|en|nb)\b)*")


def test_a_norwegian_session_has_no_english(tmp_path: Path) -> None:
    config = (Path(__file__).resolve().parents[1] / "config.example.toml").read_text()
    assert 'default_language = "en"' in config
    result = run_console(tmp_path, SESSION, language="nb")
    assert result.returncode == 0, result.stderr
    checked = 0
    for user in ("kari", "ola", "lillian"):
        for message in messages_for(result.stdout, user):
            text = COMMANDS.sub(" ", message)
            text = re.sub(r"<[^>]*>|\[[^\]]*\]|\|\w+", " ", text)     # <tråd>, [grunn], |off
            found = ENGLISH.findall(text)
            assert not found, f"English {found} in a Norwegian answer to {user}:\n{message}"
            checked += 1
    assert checked > 40
    assert "Nødnummer: 113" in result.stdout and "Emergency: 113" not in result.stdout
