"""The console transport: several local users typing ``<user>: <text>`` on standard input.

Used for trying the bot out and scripting sessions. The console name is the user's
platform identity here, so it is treated exactly like a Telegram id: never shown to others.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import sys
import threading
from typing import IO, Awaitable, Callable

from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.transports.base import Dispatch

LINE_RE = re.compile(r"^([A-Za-z0-9_.\-]{1,64}):\s?(.*)$")


# A line ending in a backslash continues on the next line (typed by hand at a terminal).
CONTINUE = "\\"
# At a terminal, lines indented by two spaces that arrive within this time (a paste) still
# continue the message before them; a single typed line is answered after this short pause.
PASTE_WINDOW = 0.25

Labeller = Callable[[str, str], str]


def _english(address: str, key: str) -> str:
    return {"console.edited": "Updated:", "console.removed": "Removed: {headline}"}[key]


class ConsoleTransport:
    name = "console"

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None,
                 label: Labeller | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._dispatch: Dispatch | None = None
        self._next_id = 0
        # Message ids must stay unique across runs: the database remembers earlier ones.
        self._run = secrets.token_hex(3)
        self._headlines: dict[str, str] = {}
        # (address, catalogue key) -> text in that user's language; set by the runtime.
        self.label: Labeller = label or _english

    async def start(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    async def stop(self) -> None:
        self.out.flush()

    def _print(self, address: str, text: str) -> None:
        lines = text.split("\n") or [""]
        self.out.write(f"[{address}] {lines[0]}\n")
        for line in lines[1:]:
            self.out.write(f"  {line}\n")
        self.out.flush()

    async def send(self, address: str, message: Rendered) -> str:
        self._next_id += 1
        text = message.text
        for row in message.buttons:
            text += "\n" + "  ".join(f"[{b.label} → {b.command}]" for b in row)
        if message.document is not None:
            name, content = message.document
            text += f"\n📎 {name}\n" + content.decode("utf-8", "replace")
        self._print(address, text)
        message_id = f"{self._run}.{self._next_id}"
        self._headlines[message_id] = text.split("\n", 1)[0][:80]   # to say which one a removal hits
        return message_id

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        # A terminal cannot change what it printed: print the new version, marked.
        self._print(address, f"{self.label(address, 'console.edited')} {message.text}")

    async def delete(self, address: str, message_id: str) -> None:
        headline = self._headlines.pop(message_id, "…")
        self._print(address, self.label(address, "console.removed").replace("{headline}", headline))

    async def _emit(self, user: str, text: str) -> None:
        assert self._dispatch is not None
        who = PlatformUser(platform="console", user_id=user, address=user, username=user)
        await self._dispatch(IncomingEvent(user=who, kind=Kind.TEXT, text=text))

    def _complain(self) -> None:
        self.err.write("console: expected '<user>: <text>' (user: letters, digits, . _ -)\n")
        self.err.flush()

    async def read(self, stream: IO[str] | None = None,
                   after_each: Callable[[], Awaitable[None]] | None = None,
                   interactive: bool | None = None) -> int:
        """Read ``<user>: <text>`` lines until end of input and answer each message.

        A message continues on the next line when its line ends with a backslash, or when
        the next line starts with two spaces (the convention the output uses). From a
        script the reader waits for the next line to decide; at a terminal it waits only
        ``PASTE_WINDOW``, so every typed line is answered at once."""
        stream = stream or sys.stdin
        if interactive is None:
            interactive = _is_terminal(stream)
        lines = _LineQueue(stream)
        count = 0
        while (line := await lines.get()) is not None:
            if not line.strip():
                continue
            match = LINE_RE.match(line)
            if match is None:
                self._complain()
                continue
            user, parts = match.group(1), [match.group(2)]
            while True:
                if parts[-1].endswith(CONTINUE):
                    parts[-1] = parts[-1][:-1].rstrip()
                    more = await lines.get()
                    if more is None:
                        break
                    parts.append(more[2:] if more.startswith("  ") else more)
                    continue
                more = await lines.get(PASTE_WINDOW if interactive else None)
                if more is not None and more.startswith("  "):
                    parts.append(more[2:])
                    continue
                lines.put_back(more)
                break
            await self._emit(user, "\n".join(parts))
            count += 1
            if after_each is not None:     # a transcript reads best in input order
                await after_each()
        return count


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _LineQueue:
    """Lines of a blocking stream, read by a thread, with a look-ahead that may time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._back: list[str] = []
        self._eof = False
        loop = asyncio.get_running_loop()

        def pump() -> None:
            while True:
                line = stream.readline()
                loop.call_soon_threadsafe(self._queue.put_nowait, line.rstrip("\n") if line else None)
                if not line:
                    return

        threading.Thread(target=pump, name="console-input", daemon=True).start()

    async def get(self, timeout: float | None = None) -> str | None:
        """The next line; None at end of input or, with a timeout, when nothing came in time."""
        if self._back:
            return self._back.pop()
        if self._eof:
            return None
        try:
            line = await asyncio.wait_for(self._queue.get(), timeout) if timeout else await self._queue.get()
        except asyncio.TimeoutError:
            return None
        if line is None:
            self._eof = True
        return line

    def put_back(self, line: str | None) -> None:
        if line is not None:
            self._back.append(line)
