"""The labelled posts through the real console app, as the maintainers run their hidden set.

    python -m bench.safety --console [--data FILE] [--modes plain,reply,new,title]

``run.py --console`` is started with a piped script: participants join and name themselves,
then every labelled post is posted in each mode — as plain text in a thread they are reading,
as ``/reply <thread> <text>``, as the first post of ``/new <title>`` and as a thread title
(``/new <text>``: the first line is the title, the rest the first post). After each post the
author sends ``/me``, so that everything the bot told them in between is known to be about
that post. What counts is what the author saw: the crisis answer (the emergency contacts) and
the disclosure question. A post's lines after the first are sent as the console's indented
continuation lines, as a participant pasting a multi-line text would.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("plain", "reply", "new", "title")
POSTS_PER_USER = 10
MAX_TITLE = 120
MARKER = "/me"
MARKER_REPLY = "Your privacy overview"
CRISIS_SEEN = "you don't have to carry it alone"        # the crisis answer (safety.po)
DISCLOSURE_SEEN = "could tell others who you are"          # the disclosure question


@dataclass(frozen=True)
class Seen:
    crisis: bool
    disclosure: bool


def _config(tmp: Path, local: tuple[str, ...]) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///data/peerhaven.db"', f'url = "sqlite:///{tmp}/ph.db"')
    text = text.replace('data_key_file = "data/peerhaven.key"', f'data_key_file = "{tmp}/ph.key"')
    names = ", ".join(f'"{n}"' for n in local)
    text = re.sub(r"^local_place_names = .*$", f"local_place_names = [{names}]", text, flags=re.M)
    # Flood control would keep the bench's rapid posts as drafts after the checks ran: lift it.
    text = re.sub(r"^posts_per_minute = .*$", "posts_per_minute = 120", text, flags=re.M)
    text = re.sub(r"^threads_per_hour = .*$", "threads_per_hour = 120", text, flags=re.M)
    path = tmp / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _lines(user: str, text: str) -> list[str]:
    """One message as console input: continuation lines are indented by two spaces."""
    first, *rest = text.split("\n")
    return [f"{user}: {first}"] + [f"  {line}" for line in rest]


def message_for(mode: str, text: str) -> str | None:
    """The message a participant types to post ``text`` in ``mode`` (None: not possible)."""
    if mode == "plain":
        return text
    if mode == "reply":
        return f"/reply 1 {text}"
    if mode == "new":
        return f"/new About my week\n{text}"
    if mode == "title":
        title = text.split("\n", 1)[0]
        return f"/new {text}" if title.strip() and len(title) <= MAX_TITLE else None
    raise ValueError(mode)


def script(texts: list[str], modes: tuple[str, ...]) -> tuple[str, list[tuple[int, str, str]]]:
    """The console input, and for each post in order (index, mode, user)."""
    out = ["seedxq: /start", "seedxq: /agree", "seedxq: /join WELCOME", "seedxq: /name Seedling",
           "seedxq: /new Evenings", "  Hello all"]
    order: list[tuple[int, str, str]] = []
    for start in range(0, len(texts), POSTS_PER_USER):
        user = f"p{start // POSTS_PER_USER:03d}xq"
        out += [f"{user}: /start", f"{user}: /agree", f"{user}: /join WELCOME",
                f"{user}: /name Pn{start // POSTS_PER_USER:03d}", f"{user}: {MARKER}"]
        for index in range(start, min(start + POSTS_PER_USER, len(texts))):
            for mode in modes:
                message = message_for(mode, texts[index])
                if message is None:
                    continue
                if mode == "plain":              # plain text goes to the thread being read; its
                    out += [f"{user}: /read 1", f"{user}: {MARKER}"]     # page is not this post's
                    order.append((-1, "read", user))
                out += _lines(user, message) + [f"{user}: {MARKER}"]
                order.append((index, mode, user))
    return "\n".join(out) + "\n", order


def _messages(output: str) -> list[tuple[str, str]]:
    found: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        m = re.match(r"^\[([^\]]+)\] (.*)$", line)
        if m:
            found.append((m.group(1), [m.group(2)]))
        elif line.startswith("  ") and found:
            found[-1][1].append(line[2:])
    return [(who, "\n".join(lines)) for who, lines in found]


def parse(output: str, order: list[tuple[int, str, str]]) -> dict[tuple[int, str], Seen]:
    """What each author saw between one post and their next ``/me``."""
    per_user: dict[str, list[list[str]]] = {}
    for who, text in _messages(output):
        chunks = per_user.setdefault(who, [[]])
        if text.startswith(MARKER_REPLY):
            chunks.append([])
        else:
            chunks[-1].append(text)
    taken: dict[str, int] = {}
    seen: dict[tuple[int, str], Seen] = {}
    for index, mode, user in order:
        taken[user] = taken.get(user, 1) + 1           # chunk 0: onboarding; 1: before the first post
        chunks = per_user.get(user, [])
        chunk = chunks[taken[user] - 1] if taken[user] - 1 < len(chunks) else []
        # The bot's own answers start a message; a relayed post (a thread page) starts with its header.
        mine = [m for m in chunk if not re.match(r"^#\d+ ", m)]
        seen[(index, mode)] = Seen(any(CRISIS_SEEN in m for m in mine), any(DISCLOSURE_SEEN in m for m in mine))
    return seen


def run_console(texts: list[str], modes: tuple[str, ...] = MODES, local: tuple[str, ...] = ()
                ) -> dict[tuple[int, str], Seen]:
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), local)
        stdin, order = script(texts, modes)
        env = {k: v for k, v in os.environ.items() if k != "PEERHAVEN_DATA_KEY"}
        result = subprocess.run([sys.executable, "run.py", "--console", "--config", str(config)], cwd=ROOT,
                                input=stdin, capture_output=True, text=True, timeout=3600, env=env)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
        return parse(result.stdout, order)
