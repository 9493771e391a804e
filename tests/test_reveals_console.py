"""The issue's scenario on the console, run as the README says (three runs on one database):
Birch and Willow reveal mutually, Moss sees only pseudonyms, Willow declines Moss and Moss
cannot tell, a meet handshake links Birch and Moss while Willow's guesses are refused and
rate-limited, a closed thread stays invisible to Moss, and unreveal edits copies back."""
from __future__ import annotations

import re
from pathlib import Path

from tests.test_console import messages_for, run_console


def lines(*items: str) -> str:
    return "".join(f"{item}\n" for item in items)


ONBOARD = [f"{u}: {c}" for u, p in (("annaxq", "Birch"), ("borisxq", "Willow"), ("mossxq", "Moss"))
           for c in ("/start", "/agree", "/join WELCOME", f"/name {p}")]


def test_reveal_scenario_on_the_console(tmp_path: Path) -> None:
    first = run_console(tmp_path, lines(
        *ONBOARD,
        "annaxq: /card name Anna", "borisxq: /card name Boris", "mossxq: /card name Mo",
        "annaxq: /reveal to Willow", "borisxq: /accept 1",
        "annaxq: /new Evenings", "annaxq: The evenings are long",
        "borisxq: /reply 1 Mine too", "mossxq: /reply 1 Same here",
        "mossxq: /reveal to Willow", "borisxq: /decline 2",
        "mossxq: /reveal", "annaxq: /meet"))
    assert first.returncode == 0, first.stderr
    anna, boris, moss = (messages_for(first.stdout, u) for u in ("annaxq", "borisxq", "mossxq"))
    assert any(m.startswith("#1 Evenings · p1 · Birch (Anna)\n") for m in boris)
    assert any(m.startswith("#1 Evenings · p2 · Willow (Boris)\n") for m in anna)
    assert any(m.startswith("#1 Evenings · p1 · Birch\n") for m in moss)
    assert not any("Anna" in m or "Boris" in m for m in moss)
    assert "Your request to Willow: waiting." in moss[-1]           # declined, and Moss cannot tell
    assert not any("declin" in m.casefold() for m in moss)
    code = re.search(r"Your café code: (\w+)", anna[-1]).group(1)

    wrong = [f"borisxq: /meet {c}" for c in ("AAAAA", "CCCCC", "DDDDD", "EEEEE", "FFFFF")]
    second = run_console(tmp_path, lines(
        *wrong, f"borisxq: /meet {code}",
        f"mossxq: /meet {code}", "annaxq: /meet confirm", "mossxq: /meet confirm",
        "annaxq: /new closed Just us", "annaxq: Only for you", "annaxq: /invite 2 Willow",
        "mossxq: /threads", "mossxq: /read 2", "mossxq: /reply 2 let me in", "borisxq: /read 2",
        "borisxq: /threads", "annaxq: /unreveal Willow", "borisxq: /threads", "annaxq: /me"))
    assert second.returncode == 0, second.stderr
    anna, boris, moss = (messages_for(second.stdout, u) for u in ("annaxq", "borisxq", "mossxq"))
    assert sum("does not match" in m for m in boris) == 5
    assert "try again in an hour" in boris[5]                          # even the right code, now
    assert any("You and Birch (Anna) now see each other's cards" in m for m in moss)
    assert any("Check phrase" in m for m in moss) and not any("Check phrase" in m for m in boris)
    assert not any("Just us" in m or "Only for you" in m for m in moss)
    assert [m for m in moss if "no thread 2" in m] and len([m for m in moss if "no thread 2" in m]) == 2
    assert any("p4 · Birch (Anna)\nOnly for you" in m for m in boris)
    listings = [m for m in boris if m.startswith("Threads")]
    assert len(listings) == 2 and "Just us" in listings[0] and "Just us" not in listings[1]
    edited = [m for m in boris if m.startswith("Updated: #")]
    assert edited and all("Anna" not in m for m in edited)
    assert "cannot be taken back" in next(m for m in anna if "sees only your pseudonym" in m)
    assert "Moss can link Birch to your card." in anna[-1] and "Willow" not in anna[-1].split("revealed")[-1]
