"""The Telegram transport (python-telegram-bot 22), private chats only.

PTB's ``Application`` is started by hand inside the bot's own event loop (never
``run_polling``), so it shares the loop with the Matrix transport, the outbox worker and the
scheduler. PTB is used for the Bot API client, update parsing and the updater (long polling
or a webhook server); its JobQueue, persistence and rate limiter are not used.

Incoming: every update goes through one catch-all handler, one at a time, in order. An update
counts as received only once it has been handled (see :mod:`bot.transports.telegram_updates`): a crash before that
makes Telegram deliver it again, so an accepted message is never lost.

Outgoing: :mod:`bot.transports.telegram_send`, with :mod:`bot.transports.telegram_format`
(escaping, splitting, ids) and :mod:`bot.transports.telegram_limits` (flood limits).
Operator notes: ``docs/telegram.md``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from urllib.parse import urlsplit

from telegram import Bot, BotCommand, CallbackQuery, Chat, ChatMemberUpdated, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.config import ConfigError, TelegramSection, secret
from bot.events import IncomingEvent, Kind, Rendered
from bot.i18n import I18n
from bot.transports.base import Dispatch, TransientError
from bot.transports.telegram_format import escape
from bot.transports.telegram_limits import ChatGate, GlobalWindow
from bot.transports.telegram_send import NO_PREVIEW, Outgoing
from bot.transports.telegram_updates import AckQueue, OffsetRequest, language, message_event, platform_user

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
MENU_COMMANDS = ("start", "help", "threads", "read", "new", "reply", "me", "notify", "language")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramTransport:
    name = "telegram"

    def __init__(self, token: str, *, base_url: str = "https://api.telegram.org/bot", mode: str = "polling",
                 webhook_listen: str = "127.0.0.1", webhook_port: int = 8443, webhook_url: str | None = None,
                 webhook_secret: str | None = None, messages_per_second: float = 30.0,
                 per_chat_interval: float = 1.0, poll_timeout: float = 10.0, burst: float | None = None,
                 i18n: I18n | None = None) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError("mode must be polling or webhook")
        if mode == "webhook" and not webhook_url:
            raise ConfigError("telegram.webhook_url: required when telegram.mode is \"webhook\"")
        self._token = token
        self._base_url = base_url
        self._file_url = base_url[:-len("bot")] + "file/bot" if base_url.endswith("/bot") else base_url
        self.mode = mode
        self._listen, self._port, self._webhook_url = webhook_listen, webhook_port, webhook_url
        self._webhook_secret = webhook_secret or secrets.token_urlsafe(32)
        self._poll_timeout = poll_timeout
        self._i18n = i18n or I18n()
        self.bucket = GlobalWindow(messages_per_second)     # (burst: kept for old configs, unused)
        self.gate = ChatGate(per_chat_interval)
        self._app: Application | None = None
        self._queue: AckQueue | None = None
        self._poll_request: OffsetRequest | None = None
        self._dispatch: Dispatch | None = None
        self._initialized = False
        self._closing = False
        self._retry_task: asyncio.Task[None] | None = None
        self._handled_id = 0
        self.out = Outgoing(self._bot, self.bucket, self.gate)
        self._quietly_left: set[int] = set()
        self.errors = 0           # updates whose handling raised (tests and health checks read it)

    @classmethod
    def from_config(cls, cfg: TelegramSection, env: dict[str, str] | None = None) -> "TelegramTransport":
        env = os.environ if env is None else env
        token = secret(cfg.token_env, cfg.token, "telegram.token_env", env)
        webhook_secret = env.get(cfg.webhook_secret_env) or None
        if cfg.mode == "webhook":
            if webhook_secret is not None and not _SECRET_RE.match(webhook_secret):
                raise ConfigError(f"telegram.webhook_secret_env: {cfg.webhook_secret_env} may only contain "
                                  "A-Z, a-z, 0-9, _ and - (1 to 256 characters)")
            if webhook_secret is None:
                log.warning("telegram: %s is not set; using a random webhook secret for this run "
                            "(set it when several processes share the webhook)", cfg.webhook_secret_env)
        return cls(token, base_url=cfg.base_url, mode=cfg.mode, webhook_listen=cfg.webhook_listen,
                   webhook_port=cfg.webhook_port, webhook_url=cfg.webhook_url, webhook_secret=webhook_secret,
                   messages_per_second=cfg.messages_per_second, per_chat_interval=cfg.per_chat_interval)

    @property
    def handled_update_id(self) -> int:
        """The highest update id handled so far (0 before the first)."""
        return self._handled_id

    # ------------------------------------------------------------------ lifecycle
    def _build(self) -> Application:
        self._queue = AckQueue(before_put=self._confirm_handled)
        self._poll_request = OffsetRequest(connection_pool_size=2, read_timeout=10, write_timeout=10,
                                           connect_timeout=10, pool_timeout=5)
        app = (Application.builder().token(self._token).base_url(self._base_url).base_file_url(self._file_url)
               .update_queue(self._queue).concurrent_updates(False).job_queue(None)
               .connection_pool_size(64).pool_timeout(10).connect_timeout(10).read_timeout(20).write_timeout(30)
               .get_updates_request(self._poll_request).build())
        app.add_handler(TypeHandler(Update, self._on_update))
        return app

    async def start(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._closing = False
        self._app = self._build()
        try:
            await self._bring_up()
        except InvalidToken:
            await self.stop()
            raise RuntimeError("telegram: the Bot API refused the token (check telegram.token_env)") from None
        except BadRequest as exc:          # e.g. a webhook URL Telegram does not accept
            await self.stop()
            raise RuntimeError(f"telegram: the Bot API refused the set-up: {exc.message}") from None
        except (NetworkError, OSError) as exc:
            log.warning("telegram: Bot API not reachable at start (%s); retrying in the background",
                        exc.__class__.__name__)
            self._retry_task = asyncio.create_task(self._bring_up_retrying(), name="telegram-start")

    async def _bring_up(self) -> None:
        app = self._app
        assert app is not None
        if not self._initialized:
            await app.initialize()               # getMe: checks the token
            self._initialized = True
        if not app.running:
            await app.start()
        await self._set_commands()
        updater = app.updater
        assert updater is not None
        if updater.running:
            return
        if self.mode == "webhook":
            await updater.start_webhook(listen=self._listen, port=self._port,
                                        url_path=urlsplit(self._webhook_url or "").path or "/",
                                        webhook_url=self._webhook_url, secret_token=self._webhook_secret,
                                        allowed_updates=ALLOWED_UPDATES, bootstrap_retries=2)
        else:
            await updater.start_polling(poll_interval=0, timeout=self._poll_timeout,
                                        allowed_updates=ALLOWED_UPDATES, bootstrap_retries=2)
        log.info("telegram: receiving updates (%s)", self.mode)

    async def _bring_up_retrying(self) -> None:
        delay = 2.0
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._bring_up()
                return
            except (NetworkError, OSError) as exc:
                log.warning("telegram: still not reachable (%s)", exc.__class__.__name__)
                delay = min(delay * 2, 120.0)
            except TelegramError as exc:
                log.error("telegram: start failed (%s); the transport stays offline", exc.__class__.__name__)
                return

    async def _set_commands(self) -> None:
        assert self._app is not None
        try:
            for code, lang in (("", "en"), ("nb", "nb")):
                commands = [BotCommand(c, self._i18n.t(lang, f"telegram.cmd.{c}")[:256]) for c in MENU_COMMANDS]
                await self._app.bot.set_my_commands(commands, language_code=code or None)
        except TelegramError as exc:
            log.warning("telegram: could not set the command menu (%s)", exc.__class__.__name__)

    async def stop(self) -> None:
        self._closing = True
        if self._retry_task is not None:
            self._retry_task.cancel()
            await asyncio.gather(self._retry_task, return_exceptions=True)
            self._retry_task = None
        app = self._app
        if app is None:
            return
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()                   # handles what is still queued
            await self._confirm_handled()          # the updater may have stopped mid-batch
        finally:
            if self._initialized:
                await app.shutdown()
                self._initialized = False
            self.bucket.close()
            self._app = None

    # ------------------------------------------------------------------ incoming
    async def _confirm_handled(self, _next: Update | None = None) -> None:
        """Polling: tell Telegram that everything handled so far was received. Called before
        the next update of a batch is handled (PTB would confirm only after the whole batch)
        and at stop, so a crash replays at most the update that was being handled."""
        if self.mode != "polling" or not self._initialized or self._app is None or self._poll_request is None:
            return
        if not self._handled_id or self._poll_request.confirmed > self._handled_id:
            return
        try:
            await self._app.bot.get_updates(offset=self._handled_id + 1, timeout=0, limit=1,
                                            allowed_updates=ALLOWED_UPDATES)
        except Exception as exc:                   # never break PTB's polling loop
            log.warning("telegram: could not confirm handled updates (%s); they may be seen again",
                        exc.__class__.__name__)

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert isinstance(update, Update)
        try:
            await self._handle_update(update)
        except Exception as exc:                   # one bad update must never stop the bot
            self.errors += 1
            log.error("telegram: an update could not be handled (%s)", exc.__class__.__name__,
                      exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            self._handled_id = max(self._handled_id, update.update_id)
            if self._queue is not None:
                self._queue.handled(update)

    async def _deliver(self, event: IncomingEvent) -> None:
        if self._dispatch is None:
            raise RuntimeError("telegram transport not started")
        self.gate.note_incoming(int(event.user.address))
        await self._dispatch(event)

    async def _handle_update(self, update: Update) -> None:
        if update.callback_query is not None:
            await self._on_button(update.callback_query)
        elif update.my_chat_member is not None:
            await self._on_membership(update.my_chat_member)
        elif (message := update.message or update.edited_message) is not None:
            if message.chat.type != Chat.PRIVATE:
                await self._leave(message.chat, announce=False)
                return
            user = message.from_user
            if user is None or user.is_bot:
                return
            event = message_event(message, platform_user(user, message.chat), update.edited_message is not None,
                                  self.out.reply_id)
            if event is not None:
                await self._deliver(event)

    async def _on_button(self, query: CallbackQuery) -> None:
        try:
            message = query.message
            if message is None or query.data is None or message.chat.type != Chat.PRIVATE or query.from_user.is_bot:
                return
            await self._deliver(IncomingEvent(platform_user(query.from_user, message.chat), Kind.BUTTON,
                                              text=query.data, platform_message_id=str(message.message_id)))
        finally:      # always answered, also when handling failed: the button stops spinning
            try:
                await query.answer()
            except TelegramError:
                pass

    async def _on_membership(self, change: ChatMemberUpdated) -> None:
        chat, old, new = change.chat, change.old_chat_member.status, change.new_chat_member.status
        if chat.type != Chat.PRIVATE:
            if new in ("member", "administrator", "restricted") and old in ("left", "kicked"):
                await self._leave(chat, announce=True, language=language(change.from_user.language_code))
            return
        if change.from_user.is_bot:
            return
        person = platform_user(change.from_user, chat)
        if new == "kicked":
            await self._deliver(IncomingEvent(person, Kind.BLOCKED))
        elif new == "member" and old != "member":
            await self._deliver(IncomingEvent(person, Kind.UNBLOCKED))

    async def _leave(self, chat: Chat, announce: bool, language: str | None = None) -> None:
        """A group or channel would show its members to each other: say so once, and leave."""
        assert self._app is not None
        bot = self._app.bot
        if announce:
            self._quietly_left.discard(chat.id)
            try:
                await self.bucket.acquire()
                try:
                    await bot.send_message(chat.id, escape(self._i18n.t(language, "telegram.private_only")),
                                           parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
                finally:
                    self.bucket.release()
            except TelegramError as exc:
                log.info("telegram: could not explain before leaving a %s (%s)", chat.type, exc.__class__.__name__)
        elif chat.id in self._quietly_left:
            return
        else:
            self._quietly_left.add(chat.id)
        try:
            await bot.leave_chat(chat.id)
            log.info("telegram: left a %s chat (the bot works in private chats only)", chat.type)
        except TelegramError as exc:
            log.warning("telegram: could not leave a %s chat (%s)", chat.type, exc.__class__.__name__)

    # ------------------------------------------------------------------ outgoing
    def _bot(self) -> Bot:
        if self._app is None or not self._initialized or self._closing:
            raise TransientError("telegram is not connected")
        return self._app.bot

    async def send(self, address: str, message: Rendered) -> str:
        """Send and return the message id ("41", or "41+42" for a message sent in parts)."""
        return await self.out.send(address, message)

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        await self.out.edit(address, message_id, message)

    async def delete(self, address: str, message_id: str) -> None:
        await self.out.delete(address, message_id)
