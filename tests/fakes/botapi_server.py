"""Local fake of the Telegram Bot API (https://core.telegram.org/bots/api) for tests.

An aiohttp server on 127.0.0.1 that python-telegram-bot (or any client) reaches via ``base_url``.
Tests play users through the Python API (``user_sends``, ``user_presses_button``...) and inspect
what the bot did with ``messages()``, ``sent_log`` and ``requests``.  Choices made (stricter than
Telegram where that catches bugs early):
* Flood limits count new messages only (sendMessage, sendDocument).  Edits, deletes, chat actions
  and callback answers are not counted: Telegram limits them separately and far more loosely.
* Token buckets: per private chat ``per_chat_per_second`` (capacity ``per_chat_burst``), per group
  ``group_per_minute``/60 (same capacity), one global ``global_per_second`` (capacity
  ``global_burst``, default = the rate).  A send must fit all of them; a rejected request consumes
  nothing.  retry_after = ceil(seconds until a token is free), at least 1.
* ``strict_limits=True`` (the benchmark's and the pacing test's server): the global limit is a
  sliding window (at most ``global_per_second`` accepted sends in any one second; retry_after =
  until the oldest leaves the window), and each private chat allows a burst of 3, then 1/s.
* HTML: a bare ``>``, or an ``&`` that does not start &lt; &gt; &amp; &quot; or a numeric entity, is
  rejected (Telegram keeps them literally, but its docs require escaping them).  Like Telegram,
  text is trimmed of surrounding whitespace and url/email/mention/hashtag/bot_command entities
  are detected automatically.
* Webhook URLs may be plain http; updates are delivered one at a time, retried until 2xx.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import ClientSession, ClientTimeout, web

JSON = dict[str, Any]
Files = dict[str, tuple[str, bytes, str]]  # form field -> (file name, content, mime type)
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# getUpdates without allowed_updates delivers every type except these (Bot API docs).
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
_BUTTON_ACTIONS = {"url", "callback_data", "web_app", "login_url", "switch_inline_query", "copy_text", "pay",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game"}
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message")
BLOCKED = "Forbidden: bot was blocked by the user"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
              "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class ApiError(Exception):
    """An error answer shaped exactly as Telegram's."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        return {**body, "parameters": self.parameters} if self.parameters else body


def bad(description: str) -> ApiError:
    return ApiError(400, "Bad Request: " + description)


def too_many(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


def u16(s: str) -> int:
    """Entity offsets and lengths count UTF-16 code units (Bot API MessageEntity)."""
    return len(s.encode("utf-16-le")) // 2


# ------------------------------------------------------------------ HTML and entities
_HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
              "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
              "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
              "blockquote": "blockquote", "tg-emoji": "custom_emoji"}
_ENTITY_RE = re.compile(r"&(?:#([0-9]+)|#[xX]([0-9a-fA-F]+)|(lt|gt|amp|quot));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>")
_ATTR_RE = re.compile(r"([^\s=>]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")
# Telegram detects these entities in any text by itself; list order is the priority on overlap.
_DETECT = [("url", re.compile(r"\bhttps?://[^\s<>\"]*[^\s<>\".,;:!?)\]']")),
           ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
           ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
           ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{4,31}\b")),
           ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*"))]
_NO_DETECT_INSIDE = {"code", "pre", "text_link", "custom_emoji"}


def _unescape(s: str) -> str:
    return _ENTITY_RE.sub(lambda m: _NAMED[m[3]] if m[3] else chr(int(m[1]) if m[1] else int(m[2], 16)), s)


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Parse Bot API HTML into (plain text, entities), failing the way Telegram does."""
    out: list[str] = []
    pos = 0  # UTF-16 offset in the plain text
    stack: list[tuple[str, int, JSON | None]] = []  # open tags: (name, start offset, entity or None)
    entities: list[JSON] = []
    i = 0

    def fail(what: str, at: int, tail: str = "") -> ApiError:
        return bad(f"can't parse entities: {what} at byte offset {len(src[:at].encode())}{tail}")

    while i < len(src):
        ch = src[i]
        if ch == "<":
            m = _TAG_RE.match(src, i)
            if not m:
                raise fail("Unsupported start tag", i)
            name = m[2].lower()
            if m[1]:  # end tag: must close the innermost open tag
                if not stack:
                    raise fail("Unexpected end tag", i)
                if stack[-1][0] != name or m[3].strip():
                    raise fail("Unmatched end tag", i, f', expected "</{stack[-1][0]}>", found "</{name}>"')
                _, start, closed = stack.pop()
                if closed is not None and pos > start:
                    entities.append({**closed, "offset": start, "length": pos - start})
            else:
                if name not in _HTML_TAGS:
                    raise fail(f'Unsupported start tag "{name}"', i)
                attrs = {a[1].lower(): _unescape(a[2] or a[3] or a[4] or "") for a in _ATTR_RE.finditer(m[3])}
                ent: JSON | None = {"type": _HTML_TAGS[name]}
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail('Tag "span" must have class "tg-spoiler"', i)
                if name == "a":
                    ent = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else None
                elif name == "code" and stack and stack[-1][0] == "pre" and stack[-1][2] is not None:
                    # <pre><code class="language-x"> makes one pre entity with a language.
                    if attrs.get("class", "").startswith("language-"):
                        stack[-1][2]["language"] = attrs["class"][len("language-"):]
                    ent = None
                elif name == "blockquote" and "expandable" in attrs:
                    ent = {"type": "expandable_blockquote"}
                elif name == "tg-emoji":
                    if not attrs.get("emoji-id"):
                        raise fail("Custom emoji identifier must be non-empty", i)
                    ent["custom_emoji_id"] = attrs["emoji-id"]
                stack.append((name, pos, ent))
            i = m.end()
            continue
        if ch == "&":
            m = _ENTITY_RE.match(src, i)
            try:
                ch = _unescape(m[0]) if m else ""
            except (ValueError, OverflowError):
                ch = ""
            if not ch:
                raise fail("Unsupported HTML entity", i)
            i = m.end() if m else i
        elif ch == ">":
            raise fail("Character '>' is reserved and must be escaped", i)
        else:
            i += 1
        out.append(ch)
        pos += u16(ch)
    if stack:
        raise bad(f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), entities


def finish_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim surrounding whitespace (Telegram does), clip entities to it, add auto-detected ones."""
    stripped = text.strip(" \t\r\n")
    lead = u16(text[: len(text) - len(text.lstrip(" \t\r\n"))])
    end = lead + u16(stripped)
    result: list[JSON] = []
    for e in entities:
        s, t = max(e["offset"], lead), min(e["offset"] + e["length"], end)
        if t > s:
            result.append({**e, "offset": s - lead, "length": t - s})
    taken = [(e["offset"], e["offset"] + e["length"]) for e in result if e["type"] in _NO_DETECT_INSIDE]
    for kind, rx in _DETECT:
        for m in rx.finditer(stripped):
            s = u16(stripped[: m.start()])
            t = s + u16(m[0])
            if all(t <= a or s >= b for a, b in taken):
                taken.append((s, t))
                result.append({"type": kind, "offset": s, "length": t - s})
    return stripped, sorted(result, key=lambda e: (e["offset"], -e["length"]))


# ------------------------------------------------------------------ state records
@dataclass
class StoredMessage:
    """A message as the chat shows it now; ``history`` holds earlier versions, oldest first."""
    chat_id: int
    message_id: int
    from_bot: bool
    data: JSON  # the Bot API Message object
    raw: JSON | None = None  # request parameters that created it (bot messages)
    history: list[JSON] = field(default_factory=list)
    deleted: bool = False

    @property
    def text(self) -> str | None:
        return self.data.get("text", self.data.get("caption"))

    @property
    def entities(self) -> list[JSON]:
        return self.data.get("entities") or self.data.get("caption_entities") or []

    @property
    def reply_markup(self) -> JSON | None:
        return self.data.get("reply_markup")


@dataclass
class Chat:
    id: int
    data: JSON  # the Bot API Chat object
    next_message_id: int = 1
    blocked: bool = False  # private chat: the user blocked the bot
    bot_member: bool = True  # group: the bot has not left


@dataclass
class SentRecord:
    time: float  # clock() when the send was accepted
    chat_id: int
    method: str
    message_id: int


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    message_id: int
    data: str
    answered: bool = False
    answer: JSON | None = None  # answerCallbackQuery parameters


@dataclass
class _Fault:
    method: str
    kind: str
    times: int
    chat_id: int | None
    retry_after: int
    hold: float
    process: bool


class _Bucket:
    """Token bucket: ``capacity`` sends at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.last = rate, capacity, capacity, now

    def wait(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


# ------------------------------------------------------------------ the server
class FakeBotApi:
    def __init__(self, token: str = "123456:TEST-token_abcdefghijklmnopqrstuvwxy", *,
                 bot_first_name: str = "Peerhaven", bot_username: str = "peerhaven_bot",
                 per_chat_per_second: float = 1.0, per_chat_burst: int = 1, group_per_minute: float = 20.0,
                 global_per_second: float = 30.0, global_burst: int | None = None, enforce_limits: bool = True,
                 privacy_mode: bool = True, webhook_retry_delay: float = 0.2, strict_limits: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token, self.clock, self.enforce_limits = token, clock, enforce_limits
        self.bot_user: JSON = {"id": int(token.split(":")[0]), "is_bot": True,
                               "first_name": bot_first_name, "username": bot_username}
        self.per_chat_per_second, self.per_chat_burst = per_chat_per_second, per_chat_burst
        self.group_per_minute, self.privacy_mode = group_per_minute, privacy_mode
        self.webhook_retry_delay = webhook_retry_delay
        self._global = _Bucket(global_per_second, global_burst or max(1, int(global_per_second)), clock())
        self._buckets: dict[int, _Bucket] = {}
        self.strict_limits = strict_limits
        if strict_limits:
            self.per_chat_per_second, self.per_chat_burst = 1.0, 3
        self._window: list[float] = []         # accepted send times within the last second (strict)
        self._window_limit = int(global_per_second)
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, Chat] = {}
        self._messages: dict[int, list[StoredMessage]] = {}
        self.sent_log: list[SentRecord] = []
        self.requests: list[JSON] = []  # {"method", "params", "status" (0 while running), "time"}
        self.rejected_429 = 0  # 429 answers given, injected ones included
        self.left_chats: list[int] = []
        self.callbacks: dict[str, CallbackRecord] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}  # (scope as JSON, language) -> commands
        self.files: Files = {}  # file_id -> (file name, content, mime type)
        self.webhook_url, self.webhook_secret = "", None
        self.webhook_deliveries: list[JSON] = []
        self.webhook_error: tuple[int, str] | None = None
        self._pending: list[JSON] = []  # updates not yet confirmed
        self._update_ids, self._ids = itertools.count(1000), itertools.count(1)
        self._allowed: set[str] | None = None  # None = the default set
        self._faults: list[_Fault] = []
        self._poll_gen = 0
        self._changed, self._closing = asyncio.Event(), asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.port = 0

    # -------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> FakeBotApi:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # Held requests are released via _closing on stop, so a short shutdown is enough.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self._session = ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_loop())
        return self

    async def stop(self) -> None:
        self._closing.set()
        self._bump()
        if self._webhook_task:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _bump(self) -> None:
        """Wake everything waiting for a state change (long polls, wait_for, webhook delivery)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            pass

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Await until predicate() is truthy and return its value; re-checked on every state change
        (and every 50 ms, for predicates on state outside the server)."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() >= deadline:
                raise asyncio.TimeoutError(f"condition not met within {timeout}s")
            await self._wait_change(min(0.05, deadline - time.monotonic()))
        return value

    # -------------------------------------------------------------- introspection, faults
    def messages(self, chat_id: int, from_bot: bool | None = None) -> list[StoredMessage]:
        return [m for m in self._messages.get(chat_id, [])
                if not m.deleted and (from_bot is None or m.from_bot == from_bot)]

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._pending)

    def my_commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        return self.commands.get((json.dumps(scope or {"type": "default"}, sort_keys=True), language_code), [])

    def inject_fault(self, method: str, kind: str, times: int = 1, chat_id: int | None = None,
                     retry_after: int = 5, hold: float = 3600.0, process: bool = False) -> None:
        """kind: "timeout" (hold ``hold`` s, then drop the connection unanswered; hold=0 drops at
        once; process=True performs the call first, i.e. the answer is lost, not the request),
        "5xx" (nginx 502 page), "403" (blocked), "429" (with retry_after), "400_gone"."""
        if kind not in {"timeout", "5xx", "403", "429", "400_gone"}:
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(_Fault(method.lower(), kind, times, chat_id, retry_after, hold, process))

    # -------------------------------------------------------------- simulated users
    def add_user(self, user_id: int, first_name: str, last_name: str | None = None, username: str | None = None,
                 language_code: str = "en", started: bool = True) -> JSON:
        """started=False: the user never opened the bot, so sending to them gets 403 as on Telegram."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name, "last_name": last_name,
                "username": username, "language_code": language_code}
        self.users[user_id] = {k: v for k, v in user.items() if v is not None}
        if started:
            self._private_chat(user_id)
        return self.users[user_id]

    def _user(self, user_id: int) -> JSON:
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}; call add_user first")
        return dict(self.users[user_id])

    def _private_chat(self, user_id: int) -> Chat:
        if user_id not in self.chats:
            u = self._user(user_id)
            names = {k: u[k] for k in ("first_name", "last_name", "username") if k in u}
            self.chats[user_id] = Chat(user_id, {"id": user_id, "type": "private", **names})
        return self.chats[user_id]

    def _user_chat(self, user_id: int, chat_id: int | None) -> Chat:
        self._user(user_id)
        chat = self._private_chat(user_id) if chat_id is None else self.chats[chat_id]
        if chat.blocked:
            raise RuntimeError(f"user {user_id} has blocked the bot; call user_unblocks_bot first")
        return chat

    def _push_update(self, kind: str, payload: JSON) -> None:
        # Types excluded by allowed_updates are never created, as on Telegram.
        if (kind in self._allowed) if self._allowed is not None else (kind not in _NOT_BY_DEFAULT):
            self._pending.append({"update_id": next(self._update_ids), kind: payload})
            self._bump()

    def _store(self, chat: Chat, sender: JSON, content: JSON, from_bot: bool, raw: JSON | None = None) -> StoredMessage:
        data = {"message_id": chat.next_message_id, "from": sender, "chat": chat.data,
                "date": int(time.time()), **content}
        chat.next_message_id += 1
        msg = StoredMessage(chat.id, data["message_id"], from_bot, data, raw)
        self._messages.setdefault(chat.id, []).append(msg)
        return msg

    def _find(self, chat_id: int, message_id: int) -> StoredMessage | None:
        return next((m for m in self.messages(chat_id) if m.message_id == message_id), None)

    @staticmethod
    def _quoted(msg: StoredMessage) -> JSON:
        return {k: v for k, v in msg.data.items() if k != "reply_to_message"}  # Telegram nests one level

    def _user_message(self, user_id: int, content: JSON, chat_id: int | None = None,
                      reply_to_message_id: int | None = None) -> JSON:
        chat = self._user_chat(user_id, chat_id)
        if reply_to_message_id is not None:
            target = self._find(chat.id, reply_to_message_id)
            if target is None:
                raise KeyError(f"no message {reply_to_message_id} in chat {chat.id}")
            content["reply_to_message"] = self._quoted(target)
        msg = self._store(chat, self._user(user_id), content, from_bot=False)
        # Privacy mode: in groups the bot only sees commands and replies to its own messages.
        if chat.data["type"] == "private" or not self.privacy_mode or str(content.get("text", "")).startswith("/") \
                or content.get("reply_to_message", {}).get("from", {}).get("id") == self.bot_user["id"]:
            self._push_update("message", msg.data)
        return msg.data

    @staticmethod
    def _text_content(text: str, key: str = "text") -> JSON:
        plain, entities = finish_text(text, [])
        entities_key = "entities" if key == "text" else "caption_entities"
        return {key: plain, **({entities_key: entities} if entities else {})}

    def user_sends(self, user_id: int, text: str, reply_to_message_id: int | None = None,
                   chat_id: int | None = None) -> JSON:
        """A text message (entities detected as Telegram does, e.g. bot_command); returns the Message."""
        return self._user_message(user_id, self._text_content(text), chat_id, reply_to_message_id)

    def user_sends_media(self, user_id: int, kind: str, caption: str | None = None,
                         chat_id: int | None = None) -> JSON:
        """kind: photo, voice, video, sticker, document, location or contact."""
        def file(name: str, mime: str, **extra: Any) -> JSON:
            file_id = f"file{next(self._ids)}"
            self.files[file_id] = (name, f"fake {kind} content".encode(), mime)
            return {"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": 17 + len(kind), **extra}
        content = {
            "photo": lambda: [file("s.jpg", "image/jpeg", width=90, height=90),
                              file("m.jpg", "image/jpeg", width=800, height=800)],
            "voice": lambda: file("v.ogg", "audio/ogg", duration=3, mime_type="audio/ogg"),
            "video": lambda: file("v.mp4", "video/mp4", width=640, height=360, duration=5, mime_type="video/mp4"),
            "sticker": lambda: file("s.webp", "image/webp", type="regular", width=512, height=512,
                                    is_animated=False, is_video=False, emoji="🙂"),
            "document": lambda: file("file.pdf", "application/pdf", file_name="file.pdf", mime_type="application/pdf"),
            "location": lambda: {"latitude": 52.52, "longitude": 13.405},
            "contact": lambda: {"phone_number": "+15550100", "first_name": "Contact"},
        }
        if kind not in content:
            raise ValueError(f"unsupported media kind {kind!r}")
        message = {kind: content[kind]()}
        if caption and kind in {"photo", "voice", "video", "document"}:
            message.update(self._text_content(caption, "caption"))
        return self._user_message(user_id, message, chat_id)

    def user_forwards(self, user_id: int, text: str, origin_user_id: int | None = None,
                      origin_name: str = "Hidden Sender") -> JSON:
        """A forwarded text; origin is that known user, else a hidden user (privacy setting)."""
        date = int(time.time()) - 60
        origin = ({"type": "user", "date": date, "sender_user": self._user(origin_user_id)}
                  if origin_user_id is not None else {"type": "hidden_user", "date": date, "sender_user_name": origin_name})
        return self._user_message(user_id, {**self._text_content(text), "forward_origin": origin})

    def user_edits(self, user_id: int, message_id: int, new_text: str, chat_id: int | None = None) -> JSON:
        chat = self._user_chat(user_id, chat_id)
        msg = self._find(chat.id, message_id)
        if msg is None or msg.from_bot or msg.data["from"]["id"] != user_id or "text" not in msg.data:
            raise KeyError(f"user {user_id} has no text message {message_id} in chat {chat.id}")
        msg.history.append({"text": msg.text, "entities": msg.entities})
        msg.data.pop("entities", None)
        msg.data.update(self._text_content(new_text), edit_date=int(time.time()))
        self._push_update("edited_message", msg.data)
        return msg.data

    def user_presses_button(self, user_id: int, message_id: int, data: str, chat_id: int | None = None) -> str:
        """Press an inline button (only one the message really has); returns the callback query id."""
        chat = self._user_chat(user_id, chat_id)
        msg = self._find(chat.id, message_id)
        rows = (msg.reply_markup or {}).get("inline_keyboard", []) if msg else []
        if msg is None or not any(b.get("callback_data") == data for row in rows for b in row):
            raise KeyError(f"message {message_id} in chat {chat.id} has no button with data {data!r}")
        qid = str(4_000_000_000_000 + next(self._ids))
        self.callbacks[qid] = CallbackRecord(qid, user_id, message_id, data)
        self._push_update("callback_query", {"id": qid, "from": self._user(user_id), "message": msg.data,
                                             "chat_instance": str(-abs(chat.id) - 7), "data": data})
        return qid

    def _member_update(self, chat: Chat, actor: JSON, old: str, new: str) -> None:
        def member(status: str) -> JSON:
            return {"user": self.bot_user, "status": status, **({"until_date": 0} if status == "kicked" else {})}
        self._push_update("my_chat_member", {"chat": chat.data, "from": actor, "date": int(time.time()),
                                             "old_chat_member": member(old), "new_chat_member": member(new)})

    def user_blocks_bot(self, user_id: int) -> None:
        chat = self._private_chat(user_id)
        chat.blocked = True
        self._member_update(chat, self._user(user_id), "member", "kicked")

    def user_unblocks_bot(self, user_id: int) -> None:
        chat = self._private_chat(user_id)
        chat.blocked = False
        self._member_update(chat, self._user(user_id), "kicked", "member")

    def add_bot_to_group(self, chat_id: int, title: str, by_user_id: int) -> None:
        chat = self.chats.setdefault(chat_id, Chat(chat_id, {"id": chat_id, "type": "group", "title": title}))
        chat.bot_member = True
        actor = self._user(by_user_id)
        self._member_update(chat, actor, "left", "member")
        # Telegram also posts the service message announcing the new member.
        self._push_update("message", self._store(chat, actor, {"new_chat_members": [self.bot_user]}, False).data)

    # -------------------------------------------------------------- HTTP plumbing
    async def _read_params(self, request: web.Request) -> tuple[JSON, Files]:
        params: JSON = dict(request.query)
        files: Files = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:  # form-encoded or multipart (PTB sends files as multipart)
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        files[key] = (value.filename, value.file.read(), value.content_type)
                    else:
                        params[key] = value
        return params, files

    def _take_fault(self, method: str, params: JSON) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method.lower() and fault.chat_id in (None, _to_int(params.get("chat_id"))):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        entry: JSON = {"method": method, "params": {}, "status": 0, "time": self.clock()}
        self.requests.append(entry)
        try:
            token = request.match_info["token"]
            if token != self.token:  # Telegram: 401 for a well-formed wrong token, 404 otherwise
                raise ApiError(401, "Unauthorized") if _TOKEN_RE.match(token) else ApiError(404, "Not Found")
            params, files = await self._read_params(request)
            entry["params"] = {**params, **{k: f"<file {v[0]!r}, {len(v[1])} bytes>" for k, v in files.items()}}
            fault = self._take_fault(method, params)
            if fault and fault.kind == "timeout":
                entry["fault"] = "timeout"
                if fault.process:
                    try:
                        await self._call(method, params, files)
                    except ApiError:
                        pass
                try:  # hold the request, then drop the connection without an answer
                    await asyncio.wait_for(self._closing.wait(), fault.hold)
                except asyncio.TimeoutError:
                    pass
                if request.transport:
                    request.transport.abort()
                return web.Response(status=504)  # never reaches the client
            if fault and fault.kind == "5xx":
                entry.update(fault="5xx", status=502)
                self._bump()
                return web.Response(status=502, content_type="text/html", text=_NGINX_502)
            if fault:
                entry["fault"] = fault.kind
                raise {"403": ApiError(403, BLOCKED), "429": too_many(fault.retry_after)}.get(fault.kind) or bad(
                    {"editmessagetext": "message to edit not found", "deletemessage": "message to delete not found",
                     "answercallbackquery": QUERY_TOO_OLD}.get(method.lower(), "chat not found"))
            status, body = 200, {"ok": True, "result": await self._call(method, params, files)}
        except ApiError as e:
            status, body = e.code, e.body()
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # malformed parameters
            status, body = 400, bad(f"invalid parameters: {e!r}").body()
        entry["status"] = status
        self.rejected_429 += status == 429
        self._bump()
        return web.json_response(body, status=status)

    async def _call(self, method: str, params: JSON, files: Files) -> Any:
        handler = getattr(self, "_m_" + method.lower(), None)  # method names are case-insensitive
        if handler is None:
            raise ApiError(404, "Not Found")
        result = handler(params, files)
        return await result if inspect.isawaitable(result) else result

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["path"].rsplit("/", 1)[-1].split(".")[0]
        if request.match_info["token"] != self.token or file_id not in self.files:
            raise web.HTTPNotFound()
        _, content, mime = self.files[file_id]
        return web.Response(body=content, content_type=mime)

    # -------------------------------------------------------------- parameter helpers
    @staticmethod
    def _obj(p: JSON, name: str) -> Any:
        value = p.get(name)
        if isinstance(value, str):  # form-encoded requests carry objects JSON-serialized
            try:
                return json.loads(value)
            except ValueError:
                raise bad(f"can't parse {name} JSON object") from None
        return value

    @staticmethod
    def _flag(p: JSON, name: str) -> bool:
        return p.get(name) in (True, "true", "True", "1", 1)

    def _chat(self, p: JSON) -> Chat:
        chat_id = _to_int(p.get("chat_id"))
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            if chat_id in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad("chat_id is empty" if p.get("chat_id") in (None, "") else "chat not found")
        if chat.blocked:
            raise ApiError(403, BLOCKED)
        if not chat.bot_member:
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        return chat

    def _formatted(self, p: JSON, key: str, entities_key: str, empty_error: str | None = None) -> tuple[str, list[JSON]]:
        mode = str(p.get("parse_mode") or "")
        if mode.lower() == "html":
            text, entities = parse_html(str(p.get(key) or ""))
        elif mode:
            raise bad(f"can't parse entities: parse_mode {mode!r} is not supported by the fake server")
        else:
            text, entities = str(p.get(key) or ""), self._obj(p, entities_key) or []
        text, entities = finish_text(text, entities)
        if empty_error and not text:
            raise bad(empty_error)
        if len(text) > (4096 if key == "text" else 1024):  # limits apply after entity parsing
            raise bad("message is too long" if key == "text" else "message caption is too long")
        return text, entities

    def _markup(self, p: JSON) -> JSON | None:
        markup = self._obj(p, "reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # reply keyboards and force_reply are not part of the Message object
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not button.get("text"):
                raise bad("can't parse inline keyboard button: Text must be non-empty")
            if not _BUTTON_ACTIONS & button.keys():
                raise bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
                raise bad("BUTTON_DATA_INVALID")
            if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
                raise bad("BUTTON_URL_INVALID")
        return markup

    def _common(self, chat: Chat, p: JSON) -> JSON:
        """Message fields shared by the send methods: reply_to_message and reply_markup."""
        content: JSON = {}
        rp = self._obj(p, "reply_parameters")
        if rp is None and p.get("reply_to_message_id") not in (None, ""):
            rp = {"message_id": p["reply_to_message_id"],
                  "allow_sending_without_reply": self._flag(p, "allow_sending_without_reply")}
        if rp:
            target = self._find(chat.id, int(rp.get("message_id", 0)))
            if target is not None:
                content["reply_to_message"] = self._quoted(target)
            elif not self._flag(rp, "allow_sending_without_reply"):
                raise bad("message to be replied not found")
        if markup := self._markup(p):
            content["reply_markup"] = markup
        return content

    def _accept_send(self, method: str, chat: Chat, content: JSON, p: JSON) -> JSON:
        """Check the flood limits, then store the bot's message.  Rejections consume nothing."""
        now = self.clock()
        if self.enforce_limits:
            bucket = self._buckets.get(chat.id)
            if bucket is None:
                rate = self.per_chat_per_second if chat.data["type"] == "private" else self.group_per_minute / 60
                bucket = self._buckets[chat.id] = _Bucket(rate, max(1, self.per_chat_burst), now)
            if self.strict_limits:
                self._window = [t for t in self._window if t > now - 1.0]
                global_wait = (self._window[0] + 1.0 - now) if len(self._window) >= self._window_limit else 0.0
            else:
                global_wait = self._global.wait(now)
            wait = max(bucket.wait(now), global_wait)
            if wait > 0:
                raise too_many(max(1, math.ceil(wait)))
            bucket.tokens -= 1
            if self.strict_limits:
                self._window.append(now)
            else:
                self._global.tokens -= 1
        msg = self._store(chat, self.bot_user, content, from_bot=True, raw=dict(p))
        self.sent_log.append(SentRecord(now, chat.id, method, msg.message_id))
        return msg.data

    # -------------------------------------------------------------- Bot API methods
    def _m_getme(self, p: JSON, f: Files) -> JSON:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": not self.privacy_mode,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def _m_logout(self, p: JSON, f: Files) -> bool:
        return True

    _m_close = _m_logout

    def _set_allowed(self, p: JSON) -> None:
        if p.get("allowed_updates") is not None:  # omitted = keep the previous setting
            self._allowed = set(self._obj(p, "allowed_updates")) or None

    def _m_setwebhook(self, p: JSON, f: Files) -> bool:
        url, secret = str(p.get("url") or ""), p.get("secret_token") or None
        if url and not re.match(r"^https?://[^\s/]+", url):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad("secret token contains unallowed characters")
        if self._flag(p, "drop_pending_updates"):
            self._pending.clear()
        self._set_allowed(p)
        self.webhook_url, self.webhook_secret, self.webhook_error = url, secret, None
        return True

    def _m_deletewebhook(self, p: JSON, f: Files) -> bool:
        if self._flag(p, "drop_pending_updates"):
            self._pending.clear()
        self.webhook_url, self.webhook_secret = "", None
        return True

    def _m_getwebhookinfo(self, p: JSON, f: Files) -> JSON:
        info: JSON = {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._pending)}
        if self.webhook_url:
            info["max_connections"] = 40
        if self.webhook_error:
            info.update(last_error_date=self.webhook_error[0], last_error_message=self.webhook_error[1])
        return info

    async def _m_getupdates(self, p: JSON, f: Files) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset, limit = int(p.get("offset") or 0), min(100, max(1, int(p.get("limit") or 100)))
        deadline = time.monotonic() + max(0.0, float(p.get("timeout") or 0))
        self._set_allowed(p)
        if offset > 0:  # confirms, i.e. forgets, every update with a smaller id
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        self._poll_gen += 1
        gen = self._poll_gen
        self._bump()  # a newer getUpdates terminates an older long poll, as on Telegram
        while True:
            if gen != self._poll_gen:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                    "make sure that only one bot instance is running")
            if self._pending or self._closing.is_set() or time.monotonic() >= deadline:
                return self._pending[:limit]
            await self._wait_change(deadline - time.monotonic())

    async def _webhook_loop(self) -> None:
        """POST pending updates to the webhook one by one; retry an update until it gets a 2xx."""
        assert self._session is not None
        while not self._closing.is_set():
            if not self.webhook_url or not self._pending:
                await self._wait_change(1.0)
                continue
            update, url, reply = self._pending[0], self.webhook_url, None
            headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
            try:
                async with self._session.post(url, json=update, headers=headers, timeout=ClientTimeout(total=10)) as r:
                    if r.status >= 300:
                        raise RuntimeError(f"Wrong response from the webhook: {r.status} {r.reason}")
                    if r.content_type == "application/json":
                        reply = await r.json()
            except Exception as exc:  # refused, timed out, non-2xx: Telegram records and retries
                self.webhook_error = (int(time.time()), str(exc) or repr(exc))
                await self._wait_change(self.webhook_retry_delay)
                continue
            if self._pending and self._pending[0] is update:
                self._pending.pop(0)
            self.webhook_deliveries.append({"update": update, "url": url, "headers": headers})
            if isinstance(reply, dict) and reply.get("method"):  # Telegram runs a method given as the reply
                try:
                    await self._call(str(reply["method"]), reply, {})
                except (ApiError, ValueError, TypeError, KeyError):
                    pass
            self._bump()

    def _m_sendmessage(self, p: JSON, f: Files) -> JSON:
        chat = self._chat(p)
        text, entities = self._formatted(p, "text", "entities", "message text is empty")
        content: JSON = {"text": text, **({"entities": entities} if entities else {}), **self._common(chat, p)}
        if (preview := self._obj(p, "link_preview_options")) or self._flag(p, "disable_web_page_preview"):
            content["link_preview_options"] = preview or {"is_disabled": True}
        return self._accept_send("sendMessage", chat, content, p)

    def _m_senddocument(self, p: JSON, files: Files) -> JSON:
        chat = self._chat(p)
        doc: Any = p.get("document")
        if isinstance(doc, str) and doc.startswith("attach://"):
            doc = files.get(doc[len("attach://"):])
        doc = files.get("document", doc)
        if isinstance(doc, str) and re.match(r"^https?://", doc):  # Telegram downloads the URL
            doc = (doc.rsplit("/", 1)[-1] or "file", b"", "application/octet-stream")
        if isinstance(doc, tuple):
            file_id = f"file{next(self._ids)}"
            self.files[file_id] = (doc[0] or "document", doc[1], doc[2] or "application/octet-stream")
        elif doc in self.files:
            file_id = doc
        else:
            raise bad("wrong file identifier/HTTP URL specified" if doc else "there is no document in the request")
        caption, entities = self._formatted(p, "caption", "caption_entities")
        name, data, mime = self.files[file_id]
        content: JSON = {"document": {"file_id": file_id, "file_unique_id": "u" + file_id, "file_name": name,
                                      "mime_type": mime, "file_size": len(data)}, **self._common(chat, p)}
        if caption:
            content.update(caption=caption, **({"caption_entities": entities} if entities else {}))
        return self._accept_send("sendDocument", chat, content, p)

    def _m_getfile(self, p: JSON, f: Files) -> JSON:
        file_id = str(p.get("file_id") or "")
        if file_id not in self.files:
            raise bad("invalid file_id")
        name, data, _ = self.files[file_id]
        ext = name.rsplit(".", 1)[-1] if "." in name else "bin"
        return {"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(data),
                "file_path": f"documents/{file_id}.{ext}"}

    def _editable(self, p: JSON) -> StoredMessage:
        if p.get("inline_message_id"):
            raise bad("inline messages are not supported by the fake server")
        chat = self._chat(p)
        msg = self._find(chat.id, _to_int(p.get("message_id")) or 0)
        if msg is None:
            raise bad("message to edit not found")
        if not msg.from_bot:
            raise bad("message can't be edited")
        return msg

    def _apply_edit(self, msg: StoredMessage, changes: JSON) -> JSON:
        # An omitted reply_markup removes the inline keyboard, as on Telegram.
        keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
        new = {k: changes.get(k) if k in changes or k == "reply_markup" else msg.data.get(k) for k in keys}
        if all((msg.data.get(k) or None) == (new[k] or None) for k in keys):
            raise bad(NOT_MODIFIED)
        msg.history.append({"text": msg.text, "entities": msg.entities, "reply_markup": msg.reply_markup})
        for k in keys:
            msg.data.pop(k, None)
            if new[k]:
                msg.data[k] = new[k]
        msg.data["edit_date"] = int(time.time())
        return msg.data

    def _m_editmessagetext(self, p: JSON, f: Files) -> JSON:
        msg = self._editable(p)
        if "text" not in msg.data:
            raise bad("there is no text in the message to edit")
        text, entities = self._formatted(p, "text", "entities", "message text is empty")
        return self._apply_edit(msg, {"text": text, "entities": entities, "reply_markup": self._markup(p)})

    def _m_editmessagereplymarkup(self, p: JSON, f: Files) -> JSON:
        return self._apply_edit(self._editable(p), {"reply_markup": self._markup(p)})

    def _m_deletemessage(self, p: JSON, f: Files) -> bool:
        msg = self._find(self._chat(p).id, _to_int(p.get("message_id")) or 0)
        if msg is None:
            raise bad("message to delete not found")
        msg.deleted = True
        return True

    def _m_answercallbackquery(self, p: JSON, f: Files) -> bool:
        record = self.callbacks.get(str(p.get("callback_query_id") or ""))
        if record is None or record.answered:
            raise bad(QUERY_TOO_OLD)
        record.answered = True
        record.answer = {k: v for k, v in p.items() if k != "callback_query_id"}
        return True

    def _commands_key(self, p: JSON) -> tuple[str, str]:
        return json.dumps(self._obj(p, "scope") or {"type": "default"}, sort_keys=True), str(p.get("language_code") or "")

    def _m_setmycommands(self, p: JSON, f: Files) -> bool:
        commands = self._obj(p, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("commands must be an Array of at most 100 BotCommand")
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", "")).strip()) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(p)
        self.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        if not commands:  # an empty list deletes the commands of that scope and language
            del self.commands[key]
        return True

    def _m_getmycommands(self, p: JSON, f: Files) -> list[JSON]:
        return self.commands.get(self._commands_key(p), [])

    def _m_deletemycommands(self, p: JSON, f: Files) -> bool:
        self.commands.pop(self._commands_key(p), None)
        return True

    def _m_leavechat(self, p: JSON, f: Files) -> bool:
        chat = self._chat(p)
        if chat.data["type"] == "private":
            raise bad("chat member status can't be changed in private chats")
        chat.bot_member = False
        self.left_chats.append(chat.id)
        self._member_update(chat, self.bot_user, "member", "left")
        return True

    def _m_getchat(self, p: JSON, f: Files) -> JSON:
        chat = self.chats.get(_to_int(p.get("chat_id")) or 0)
        if chat is None:
            raise bad("chat not found")
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), False)
        return {**chat.data, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _m_sendchataction(self, p: JSON, f: Files) -> bool:
        self._chat(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True


def _to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
