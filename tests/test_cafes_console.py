"""End to end on the console with the real clock: a café a minute or two ahead, a 1-minute
reminder, two RSVPs; the reminder comes once, before the start, to those who want it.
A buddy wish and a ride need/offer reach the consultant's list and nobody else."""
from __future__ import annotations

import math
import re
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from tests.test_console import ROOT, messages_for

pytestmark = pytest.mark.slow
OSLO = ZoneInfo("Europe/Oslo")


def onboarding(user: str, name: str) -> str:
    return f"{user}: /start\n{user}: /agree\n{user}: /join WELCOME\n{user}: /name {name}\n"


def test_console_cafe_with_a_real_clock(tmp_path: Path) -> None:
    config = (ROOT / "config.example.toml").read_text().replace(
        'url = "sqlite:///data/peerhaven.db"', f'url = "sqlite:///{tmp_path}/ph.db"').replace(
        'data_key_file = "data/peerhaven.key"', f'data_key_file = "{tmp_path}/ph.key"').replace(
        "tick_seconds = 30", "tick_seconds = 2")
    (tmp_path / "config.toml").write_text(config)
    # The reminder (1 minute before) lies 20-80 seconds ahead.
    now = datetime.now(OSLO)
    start = datetime.fromtimestamp(math.ceil((now.timestamp() + 80) / 60) * 60, OSLO)
    env = {k: v for k, v in os.environ.items() if k != "PEERHAVEN_DATA_KEY"}
    child = subprocess.Popen([sys.executable, "run.py", "--console", "--config", str(tmp_path / "config.toml")],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: [lines.append((time.time(), ln.rstrip("\n"))) for ln in child.stdout],
                              daemon=True)
    reader.start()
    script = (onboarding("lillian", "Lillian") + onboarding("ann", "Heron") + onboarding("bob", "Juniper")
              + onboarding("carl", "Sorrel") + "carl: /reminders off\n"
              + "lillian: /cafe reminders 1m\n"
              + f"lillian: /cafe add northtown {start:%Y-%m-%d %H:%M} Library\n"
              + "lillian: /cafe repeat northtown first-tuesday 18:00 Library\n"
              + "ann: /rsvp 1 yes\nbob: /rsvp 1 maybe\ncarl: /rsvp 1 maybe\nann: /cafes\nbob: /cafe attendees 1\n"
              + "ann: /buddy 1\nbob: /ride 1 need\ncarl: /ride 1 offer 2\n"
              + "lillian: /cafe attendees 1\nann: /ics 1\nann: /ics series 2\n")
    child.stdin.write(script)
    child.stdin.flush()

    def reminded(user: str) -> list[float]:
        return [t for t, ln in lines if ln.startswith(f"[{user}] Reminder: café c1")]

    deadline = start.timestamp() + 10
    while time.time() < deadline and not (reminded("ann") and reminded("bob")):
        time.sleep(0.5)
    time.sleep(5)                      # a few more ticks: nothing is sent twice
    child.stdin.close()
    child.wait(timeout=60)
    reader.join(timeout=10)
    assert child.returncode == 0, child.stderr.read()
    output = "\n".join(ln for _, ln in lines)
    for user in ("ann", "bob", "lillian"):
        assert len(reminded(user)) == 1, (user, output[-3000:])
        assert reminded(user)[0] < start.timestamp()           # before the café
    assert reminded("carl") == []
    ann, bob, lillian = (messages_for(output, u) for u in ("ann", "bob", "lillian"))
    listing = next(m for m in ann if m.startswith("Coming cafés"))
    assert "Fewer than 3 have said yes" in listing and "Juniper" not in listing and "Heron" not in listing
    assert any("That is for the group's consultant" in m for m in bob)
    attendees = next(m for m in lillian if m.startswith("Café c1 – only you see this list"))
    assert "Heron: yes" in attendees and "Juniper: maybe" in attendees
    assert "Heron would like a buddy" in attendees and "Juniper needs a ride (1 seat)" in attendees
    assert "Sorrel offers a ride (2 seats)" in attendees
    assert any("When someone else coming to c1 asks too" in m for m in ann)
    assert any("Only the consultant sees this" in m for m in bob)
    for mine, others in ((ann, ("Juniper", "Sorrel", "bob", "carl")), (bob, ("Heron", "Sorrel", "ann", "carl"))):
        for text in mine:           # no RSVP, name or identity of another participant
            assert not any(re.search(rf"\b{o}\b", text) for o in others), text
    files = {m.split("📎 ", 1)[1].split("\n", 1)[0]: m.split("📎 ", 1)[1].split("\n", 1)[1]
             for m in ann if "📎 " in m}
    one = icalendar.Calendar.from_ical(files["cafe-1.ics"]).walk("VEVENT")[0]
    assert one.get("dtstart").dt == start.replace(second=0, microsecond=0)
    assert str(one.get("dtstart").params["TZID"]) == "Europe/Oslo"
    series = icalendar.Calendar.from_ical(files["cafe-series-1.ics"]).walk("VEVENT")[0]
    assert series.get("rrule")["BYDAY"] == ["+1TU"]
    assert series.get("dtstart").dt.astimezone(OSLO).strftime("%H:%M") == "18:00"
