"""The console transport, run as the README says, with a scripted conversation."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ("annaxq: /start\nannaxq: /agree\nannaxq: /join WELCOME\nannaxq: /name Birch\n"
          "borisxq: /start\nborisxq: /agree\nborisxq: /join WELCOME\nborisxq: /name Willow\nborisxq: /me\n")


def run_console(tmp_path: Path, script: str, extra_config: str = "", language: str = "en",
                ) -> subprocess.CompletedProcess:
    config = (ROOT / "config.example.toml").read_text().replace(
        'default_language = "en"', f'default_language = "{language}"').replace(
        'url = "sqlite:///data/peerhaven.db"', f'url = "sqlite:///{tmp_path}/ph.db"').replace(
        'data_key_file = "data/peerhaven.key"', f'data_key_file = "{tmp_path}/ph.key"')
    path = tmp_path / "config.toml"
    path.write_text(config + extra_config)
    env = {k: v for k, v in os.environ.items() if k != "PEERHAVEN_DATA_KEY"}
    return subprocess.run([sys.executable, "run.py", "--console", "--config", str(path)], cwd=ROOT,
                          input=script, capture_output=True, text=True, timeout=120, env=env)


def messages_for(output: str, user: str) -> list[str]:
    """Split console output into messages per addressee (continuation lines joined)."""
    found: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        m = re.match(r"^\[([^\]]+)\] (.*)$", line)
        if m:
            found.append((m.group(1), [m.group(2)]))
        elif line.startswith("  ") and found:
            found[-1][1].append(line[2:])
    return ["\n".join(lines) for who, lines in found if who == user]


def test_readme_conversation_onboards_both_users(tmp_path: Path) -> None:
    result = run_console(tmp_path, SCRIPT)
    assert result.returncode == 0, result.stderr
    anna, boris = messages_for(result.stdout, "annaxq"), messages_for(result.stdout, "borisxq")
    assert any("You're all set, Birch" in m for m in anna)
    assert any("You're all set, Willow" in m for m in boris)
    assert any("you are Willow (participant)" in m for m in boris)
    assert all("borisxq" not in m for m in anna)
    assert all("annaxq" not in m for m in boris)
    # every line is addressed to someone: nothing unaddressed on stdout
    for line in result.stdout.splitlines():
        assert line.startswith("[") or line.startswith("  ")


def test_console_resumes_onboarding_across_runs(tmp_path: Path) -> None:
    run_console(tmp_path, "cara: /start\ncara: /agree\n")
    result = run_console(tmp_path, "cara: /start\n")
    assert "Next step: send /join" in result.stdout
    assert "House rules" not in result.stdout


def test_malformed_lines_are_explained_and_skipped(tmp_path: Path) -> None:
    result = run_console(tmp_path, "no colon here\n\n\ncara: /help\n")
    assert result.returncode == 0
    assert "expected '<user>: <text>'" in result.stderr
    assert "What you can do" in result.stdout


def test_continuation_lines_make_one_message(tmp_path: Path) -> None:
    result = run_console(tmp_path, "cara: /help\n  name\n")
    # "/help\nname" is one command whose argument is on the next line
    assert "/name <pseudonym> – choose or change" in result.stdout


THREE = """annaxq: /start
annaxq: /agree
annaxq: /join WELCOME
annaxq: /name Birch
borisxq: /start
borisxq: /agree
borisxq: /join WELCOME
borisxq: /name Willow
lillian: /start
lillian: /agree
lillian: /join WELCOME
lillian: /name Lillian
annaxq: /new Winter evenings
  How do you all cope with the dark evenings?
borisxq: /reply 1 I light candles and call a friend.
lillian: /reply 1 Thank you both for sharing this.
annaxq: /read 1
annaxq: That helps, thank you.
borisxq: Me too.
"""


def test_three_members_with_the_consultant_talk_in_a_thread(tmp_path: Path) -> None:
    result = run_console(tmp_path, THREE)
    assert result.returncode == 0, result.stderr
    names = {"annaxq": "Birch", "borisxq": "Willow", "lillian": "Lillian · consultant"}
    posts = {1: ("annaxq", "How do you all cope with the dark evenings?"),
             2: ("borisxq", "I light candles and call a friend."),
             3: ("lillian", "Thank you both for sharing this."),
             4: ("annaxq", "That helps, thank you."),
             5: ("borisxq", "Me too.")}
    for user in names:
        received = messages_for(result.stdout, user)
        for number, (author, body) in posts.items():
            header = f"#1 Winter evenings · p{number} · {names[author]}"
            copies = [m for m in received if m == f"{header}\n{body}"]
            if author == user:
                assert copies == [] or (user == "annaxq" and number <= 3)   # /read shows earlier posts
            elif user == "annaxq" and number <= 3:
                assert len(copies) == 2        # the fan-out copy and the /read page
            else:
                assert len(copies) == 1, (user, number, received)
        for other in names:
            if other != user:
                assert all(other not in m for m in received)


def test_a_second_run_on_the_same_database_works(tmp_path: Path) -> None:
    first = run_console(tmp_path, SCRIPT)
    assert first.returncode == 0
    second = run_console(tmp_path, "annaxq: /new Again\n  hello again\nborisxq: /threads\n")
    assert second.returncode == 0, second.stderr
    assert "#1 Again · p1 · Birch\n  hello again" in second.stdout
    assert "Traceback" not in second.stderr


def test_a_trailing_backslash_continues_the_message(tmp_path: Path) -> None:
    result = run_console(tmp_path, "cara: /help \\\nname\n")
    assert "/name <pseudonym> – choose or change" in result.stdout
    assert "expected '<user>: <text>'" not in result.stderr


def test_piped_output_is_only_the_transcript_and_notes_go_to_stderr(tmp_path: Path) -> None:
    result = run_console(tmp_path, "cara: /start\n")
    assert "created a local data key in" in result.stderr and "{" not in result.stderr   # a sentence, not JSON
    assert "Peerhaven console" not in result.stderr + result.stdout      # the banner is for terminals
    second = run_console(tmp_path, "cara: /start\n")
    assert "created a local data key" not in second.stderr


def test_no_group_is_warned_at_start_and_by_check_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/x.db"\n[bot]\ndata_key_file = "{tmp_path}/x.key"\n')
    env = {k: v for k, v in os.environ.items() if k != "PEERHAVEN_DATA_KEY"}
    for extra in (["--check-config"], []):
        result = subprocess.run([sys.executable, "run.py", "--console", "--config", str(path), *extra], cwd=ROOT,
                                input="cara: /start\n", capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr
        assert "no group, so every /join will fail" in result.stderr
        assert "config.example.toml" in result.stderr


def test_a_changed_data_key_says_which_key_and_how_to_start_afresh(tmp_path: Path) -> None:
    run_console(tmp_path, "cara: /start\n")
    config = tmp_path / "config.toml"
    env = {**os.environ, "PEERHAVEN_DATA_KEY": "x" * 40}
    result = subprocess.run([sys.executable, "run.py", "--console", "--config", str(config)], cwd=ROOT,
                            input="cara: /start\n", capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    assert "does not match" in result.stderr
    assert str(tmp_path / "ph.key") in result.stderr and "start afresh" in result.stderr
    assert str(tmp_path / "ph.db") in result.stderr
