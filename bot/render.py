"""Per-recipient rendering of outbox items, at delivery time.

What a recipient sees depends on who they are (language, reveals, discreet mode), so
the outbox stores intent (a catalogue key or a post id) and this module turns it into
text for one recipient. Feature modules register renderers for their own kinds.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from bot.config import Config
from bot.events import Button, Rendered
from bot.i18n import LANGUAGES, I18n
from bot.labels import prefetch as prefetch_memberships
from storage.models import Account, Person
from storage.repo import Claimed, UnitOfWork

LANGUAGE_SET = set(LANGUAGES)
KindRenderer = Callable[["RenderContext", Claimed], Rendered | None]
# What a kind's renders of a batch will look up, loaded for all its items at once into the
# batch's cache (RenderContext.get reads it).
KindPrefetch = Callable[[UnitOfWork, list[Claimed], dict], None]


class RenderContext:
    def __init__(self, uow: UnitOfWork, i18n: I18n, config: Config, account: Account, person: Person,
                 cache: dict | None = None) -> None:
        self.uow = uow
        self.i18n = i18n
        self.config = config
        self.account = account
        self.person = person
        self.lang = person.language or config.bot.default_language
        self.cache = cache if cache is not None else {}

    def get(self, model: type, key: int | None):  # type: ignore[no-untyped-def]
        """A row by primary key, kept for the whole batch: a fan-out renders the same post,
        thread and author for every recipient, and the session only holds rows weakly."""
        if key is None:
            return None
        found = self.cache.get((model, key))
        if found is None:
            found = self.uow.session.get(model, key)
            self.cache[(model, key)] = found
        return found

    def t(self, key: str, **params: Any) -> str:
        return self.i18n.t(self.lang, key, **params)

    def _entry(self, value: dict[str, Any]) -> str:
        text = self.t(value["t"], **self.resolve(value.get("params", {})))
        # {"t": key, "first_line": true}: e.g. the help overview shows a command's usage line only
        return text.split("\n", 1)[0] if value.get("first_line") else text

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters may name other catalogue entries ({"t": key}) to translate per recipient."""
        out: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, dict) and "t" in value:
                out[name] = self._entry(value)
            elif isinstance(value, dict) and value and set(value) <= LANGUAGE_SET:
                # one text per language (e.g. safety.emergency_contacts): the recipient's own
                out[name] = value.get(self.lang) or value.get(self.config.bot.default_language) \
                    or value.get("en") or next(iter(value.values()))
            elif isinstance(value, list) and all(isinstance(v, dict) and "t" in v for v in value):
                out[name] = "\n".join(self._entry(v) for v in value)
            else:
                out[name] = value
        return out

    def buttons(self, rows: list[list[dict]] | None) -> tuple[tuple[Button, ...], ...]:
        return tuple(tuple(Button(self.t(b["key"]), b["command"]) for b in row) for row in rows or [])


def render_message(ctx: RenderContext, item: Claimed) -> Rendered:
    payload = item.payload
    text = ctx.t(payload["key"], **ctx.resolve(payload.get("params", {})))
    document = None
    if "document" in payload:
        doc = payload["document"]
        document = (doc["name"], doc["content"].encode("utf-8"))
    return Rendered(text=text, buttons=ctx.buttons(payload.get("buttons")), document=document)


class Renderer:
    def __init__(self, i18n: I18n, config: Config) -> None:
        self.i18n = i18n
        self.config = config
        self.kinds: dict[str, KindRenderer] = {"msg": render_message}
        self.prefetchers: dict[str, KindPrefetch] = {}

    def register(self, kind: str, func: KindRenderer, prefetch: KindPrefetch | None = None) -> None:
        self.kinds[kind] = func
        if prefetch is not None:
            self.prefetchers[kind] = prefetch

    def prefetch(self, uow: UnitOfWork, persons: list[Person], cache: dict,
                 items: Sequence[Claimed] = ()) -> None:
        """What every render of a batch looks up per recipient, for all of them at once, and
        what each kind's renders look up per item (the posts of a page of ``read``)."""
        prefetch_memberships(uow, {p.id for p in persons}, cache)
        by_kind: dict[str, list[Claimed]] = {}
        for item in items:
            if item.kind in self.prefetchers and item.op in ("send", "edit"):
                by_kind.setdefault(item.kind, []).append(item)
        for kind, of_kind in by_kind.items():
            self.prefetchers[kind](uow, of_kind, cache)

    def render(self, uow: UnitOfWork, item: Claimed, account: Account, person: Person,
               cache: dict | None = None) -> Rendered | None:
        """The message for this recipient, or None when there is nothing to send any more."""
        ctx = RenderContext(uow, self.i18n, self.config, account, person, cache)
        return self.kinds[item.kind](ctx, item)
