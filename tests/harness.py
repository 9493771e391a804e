"""Play participants against an in-process bot and read what each one received."""
from __future__ import annotations

from bot.events import IncomingEvent, Kind, PlatformUser
from bot.lifecycle import Runtime
from bot.transports.base import MemoryTransport

ONBOARD = ("/start", "/agree", "/join WELCOME")


class Harness:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def transport(self, platform: str = "memory") -> MemoryTransport:
        t = self.rt.transports[platform]
        assert isinstance(t, MemoryTransport)
        return t

    @staticmethod
    def user(name: str, platform: str = "memory", display: str | None = None) -> PlatformUser:
        return PlatformUser(platform=platform, user_id=name, address=name, username=name,
                            display_name=display)

    async def say(self, name: str, text: str, platform: str = "memory", *, kind: Kind = Kind.TEXT,
                  reply_to: str | None = None, message_id: str | None = None, drain: bool = True,
                  display: str | None = None) -> None:
        event = IncomingEvent(user=self.user(name, platform, display), kind=kind, text=text,
                              reply_to_message_id=reply_to, platform_message_id=message_id)
        await self.rt.app.handle(event)
        if drain:
            await self.rt.worker.drain()

    async def onboard(self, name: str, pseudonym: str, platform: str = "memory") -> None:
        for line in ONBOARD:
            await self.say(name, line, platform, drain=False)
        await self.say(name, f"/name {pseudonym}", platform)

    def inbox(self, name: str, platform: str = "memory", include_deleted: bool = False) -> list[str]:
        return self.transport(platform).texts(name, include_deleted)

    def last(self, name: str, platform: str = "memory") -> str:
        texts = self.inbox(name, platform)
        return texts[-1] if texts else ""

    def clear(self) -> None:
        for t in self.rt.transports.values():
            if isinstance(t, MemoryTransport):
                t.sent.clear()
