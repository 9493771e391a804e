"""`run.py --console` at a real terminal (a pseudo-terminal): each typed line is answered
before the next one is typed, and the banner explains the input format."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANSWER_WITHIN = 20.0      # generous: the test machine is shared


class Terminal:
    def __init__(self, tmp_path: Path) -> None:
        config = (ROOT / "config.example.toml").read_text().replace(
            'url = "sqlite:///data/peerhaven.db"', f'url = "sqlite:///{tmp_path}/ph.db"').replace(
            'data_key_file = "data/peerhaven.key"', f'data_key_file = "{tmp_path}/ph.key"')
        (tmp_path / "config.toml").write_text(config)
        env = {k: v for k, v in os.environ.items() if k != "PEERHAVEN_DATA_KEY"}
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "run.py", "--console", "--config", str(tmp_path / "config.toml")],
                                     cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, pattern: str, timeout: float = ANSWER_WITHIN) -> str:
        """Everything printed up to and including the first match of ``pattern``."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while (found := regex.search(self.seen)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the bot ended early; the terminal shows:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        shown, self.seen = self.seen[:found.end()], self.seen[found.end():]
        return shown

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def say(self, line: str, answer: str) -> str:
        """Type one line and wait for its answer, without typing anything else."""
        self.type(line)
        return self.read_until(answer)

    def close(self) -> int:
        os.write(self.master, b"\x04")            # Ctrl-D
        try:
            return self.proc.wait(timeout=60)
        finally:
            os.close(self.master)


@pytest.fixture
def term(tmp_path: Path):  # type: ignore[no-untyped-def]
    t = Terminal(tmp_path)
    yield t
    if t.proc.poll() is None:
        t.proc.kill()
        t.proc.wait()


def test_each_typed_line_is_answered_before_the_next(term: Terminal) -> None:
    banner = term.read_until(r"Ctrl-D ends the session[^\n]*\n")
    assert "<user>: <text>" in banner and "Consultant: lillian" in banner and "ph.db" in banner
    assert "end a line with \\" in banner
    term.say("ann: /start", r"\[ann\] House rules")
    term.say("ann: /agree", r"\[ann\] [^\n]*\n?.*Next step: send /join")
    term.say("ann: /join WELCOME", r"choose a pseudonym")
    term.say("ann: /name Birch", r"You're all set, Birch")
    for line, answer in (("bob: /start", r"\[bob\] House rules"), ("bob: /agree", r"\[bob\][^\n]*send /join"),
                         ("bob: /join WELCOME", r"\[bob\][^\n]*\n?[^\n]*pseudonym"),
                         ("bob: /name Willow", r"You're all set, Willow")):
        term.say(line, answer)
    # a thread post between the two: the author's confirmation and the other's copy arrive at once
    shown = term.say("ann: /new Winter evenings \\", r"")   # a continued line: nothing answered yet
    term.type("  How do you cope with the dark?")
    shown = term.read_until(r"\[bob\] #1 Winter evenings · p1 · Birch\n  How do you cope with the dark\?")
    assert "Posted as p1" in shown or "Posted as p1" in term.read_until(r"Posted as p1")
    shown = term.say("bob: /reply 1 Candles and a call to a friend.", r"\[ann\] #1 Winter evenings · p2 · Willow")
    assert "bob" not in shown.split("[ann] #1 Winter evenings · p2")[1]
    assert term.close() == 0
