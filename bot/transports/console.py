"""The console transport: several local users typing ``<user>: <text>`` on standard input.

Used for trying the bot out and scripting sessions. The console name is the user's
platform identity here, so it is treated exactly like a Telegram id: never shown to others.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import sys
from typing import IO, Awaitable, Callable

from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.transports.base import Dispatch

LINE_RE = re.compile(r"^([A-Za-z0-9_.\-]{1,64}):\s?(.*)$")


class ConsoleTransport:
    name = "console"

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._dispatch: Dispatch | None = None
        self._next_id = 0
        # Message ids must stay unique across runs: the database remembers earlier ones.
        self._run = secrets.token_hex(3)
        self._headlines: dict[str, str] = {}

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
        self._print(address, f"(edited) {message.text}")

    async def delete(self, address: str, message_id: str) -> None:
        self._print(address, f"(removed: {self._headlines.pop(message_id, '…')})")

    async def _emit(self, user: str, text: str) -> None:
        assert self._dispatch is not None
        who = PlatformUser(platform="console", user_id=user, address=user, username=user)
        await self._dispatch(IncomingEvent(user=who, kind=Kind.TEXT, text=text))

    async def read(self, stream: IO[str] | None = None,
                   after_each: Callable[[], Awaitable[None]] | None = None) -> int:
        """Read ``<user>: <text>`` lines until end of input. Lines starting with two spaces
        continue the previous message (the same convention the output uses)."""
        stream = stream or sys.stdin
        pending: tuple[str, list[str]] | None = None
        count = 0
        while True:
            line = await asyncio.to_thread(stream.readline)
            if not line:
                break
            line = line.rstrip("\n")
            if pending is not None and line.startswith("  "):
                pending[1].append(line[2:])
                continue
            if pending is not None:
                await self._emit(pending[0], "\n".join(pending[1]))
                if after_each is not None:     # a transcript reads best in input order
                    await after_each()
                count += 1
                pending = None
            if not line.strip():
                continue
            match = LINE_RE.match(line)
            if match is None:
                self.err.write("console: expected '<user>: <text>' (user: letters, digits, . _ -)\n")
                self.err.flush()
                continue
            pending = (match.group(1), [match.group(2)])
        if pending is not None:
            await self._emit(pending[0], "\n".join(pending[1]))
            count += 1
        return count
