"""Safety on the console, run as the README says (run.py --console, input piped): the
disclosure question and its answers, and a crisis post's answer, alert and hold."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.test_console import ROOT, messages_for, run_console

ONBOARD = "".join(f"{u}: /start\n{u}: /agree\n{u}: /join WELCOME\n{u}: /name {n}\n"
                  for u, n in (("annaxq", "Birch"), ("borisxq", "Willow"), ("lillian", "Lillian")))
START = ONBOARD + "annaxq: /new Evenings\\\nHello all\n"


def posts(messages: list[str]) -> list[str]:
    return [m for m in messages if re.match(r"^#\d+ .* · p\d+ · ", m)]


def test_disclosure_answers_on_the_console(tmp_path: Path) -> None:
    script = START + (
        "annaxq: Call me on 912 34 567 or mail zed@example.org, I live at Storgata 5\n"
        "annaxq: /drafts\n"
        "annaxq: /cancel\n"
        "annaxq: ring meg på 912 34 567\n"
        "annaxq: /fix\n"
        "annaxq: Send me a message here instead\n"
        "annaxq: my number is 98765432\n"
        "annaxq: /anyway\n")
    result = run_console(tmp_path, script)
    assert result.returncode == 0, result.stderr
    ann, boris = messages_for(result.stdout, "annaxq"), messages_for(result.stdout, "borisxq")
    asked = [m for m in ann if "Nothing is shared until you choose" in m]
    assert len(asked) == 3
    assert all(part in asked[0] for part in ("912 34 567", "zed@example.org", "Storgata 5"))
    assert "[Send anyway → /anyway d" in asked[0] and "[Cancel → /cancel d" in asked[0]
    assert any("Cancelled. Nothing was shared" in m for m in ann)
    shown = posts(boris)
    assert not any("Storgata" in p or "912" in p for p in shown)
    assert any("Send me a message here instead" in p for p in shown)
    assert any("98765432" in p for p in shown)
    assert all("annaxq" not in m for m in boris)


def run_with(tmp_path: Path, script: str, **safety: str) -> subprocess.CompletedProcess:
    """Like run_console, with [safety] keys of the example config changed."""
    config = (ROOT / "config.example.toml").read_text().replace(
        'url = "sqlite:///data/peerhaven.db"', f'url = "sqlite:///{tmp_path}/ph.db"').replace(
        'data_key_file = "data/peerhaven.key"', f'data_key_file = "{tmp_path}/ph.key"')
    for key, value in safety.items():
        config, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", config, flags=re.M)
        assert count == 1, key
    path = tmp_path / "config.toml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if k != "PEERHAVEN_DATA_KEY"}
    return subprocess.run([sys.executable, "run.py", "--console", "--config", str(path)], cwd=ROOT,
                          input=script, capture_output=True, text=True, timeout=120, env=env)


def test_crisis_post_on_the_console_answer_comes_first(tmp_path: Path) -> None:
    script = START + "annaxq: I can't do this anymore, I want to kill myself tonight\n"
    result = run_console(tmp_path, script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    answer_at = out.index("116 123")
    fanout_at = out.index("kill myself", out.index("[borisxq] #1 Evenings · p2"))
    assert answer_at < fanout_at
    alerts = [m for m in messages_for(out, "lillian") if "/open p2" in m]
    assert len(alerts) == 1


def test_crisis_post_on_the_console_with_hold(tmp_path: Path) -> None:
    script = START + ("annaxq: jeg orker ikke mer, jeg vil ta livet mitt\n"
                      "lillian: /open p2\n" "borisxq: /open p2\n")
    result = run_with(tmp_path, script, crisis_action='"hold"')
    assert result.returncode == 0, result.stderr
    ann, boris = messages_for(result.stdout, "annaxq"), messages_for(result.stdout, "borisxq")
    lillian = messages_for(result.stdout, "lillian")
    assert any("116 123" in m and "waits with the consultant" in m for m in ann)
    assert not any("ta livet mitt" in m for m in boris)
    assert any("ta livet mitt" in m for m in lillian)


SAMPLE = [
    "I'm done. Goodbye.",
    "i cant do this anymore\nim going to end it tonight",                      # multi-line
    '"I want to die" is all I can think about lately',                        # begins with a quote
    "😔 jeg orker ikke mer, vil bare dø",                                      # begins with an emoji
    "> someone wrote: call me on 912 34 567\nthat was kind of them",          # a quoted line with a number
    "Ring meg på 912 34 567",
    "I live at 14 Baker Street",
    "kl 21:30 i morgen passer fint 🙂",
    "I'm dying laughing at this thread",
    "going to the bridge club after work",
]


def test_the_console_shows_the_author_what_the_detector_finds(tmp_path: Path) -> None:
    """bench.safety --console on a sample: in each way of posting (plain, /reply, /new first
    post, /new title) the author sees the crisis answer / the disclosure question exactly when
    the detector fires."""
    from bench.safety_console import MODES, run_console as through_console
    from moderation.crisis import combined_tier
    from moderation.disclosure_detect import detect
    seen = through_console(SAMPLE)
    for (index, mode), got in seen.items():
        if index < 0:
            continue
        text = SAMPLE[index]
        assert got.crisis == (combined_tier(text) == 2), (mode, text)
        assert got.disclosure == bool(detect(text)), (mode, text)
    assert {mode for _, mode in seen} >= set(MODES)
