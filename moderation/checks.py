"""The pre-publish check pipeline: every text that would be published passes these checks.

Each check looks at one ``Submission`` and returns one ``Verdict``:

- ``publish``  nothing to do (a verdict may still carry a low-priority note for the queue);
- ``ask``      ask the author privately first (the disclosure guard); nothing is published;
- ``hold``     store the post held for the consultant (a mute, pre-moderation, crisis hold);
- ``alert``    answer the author privately at once and alert the consultants (crisis), then
               go on: the post is published unless the verdict also says ``hold``.

Checks run in ``order``; the first ``ask`` or ``hold`` ends the run, because what follows
would act on a text that is not going out (yet). ``alert`` never ends it: a person in crisis
who also wrote a phone number must get the answer now *and* be asked about the number.
Feature modules add their checks with ``register`` (the consultant's mute and
pre-moderation checks live with the consultant's code).

Logs name the check kind only: never the text or what matched.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

if TYPE_CHECKING:                     # the router imports storage; checks stay importable alone
    from bot.router import Context
    from storage.models import Post, Thread

log = logging.getLogger(__name__)

Action = Literal["publish", "ask", "hold", "alert"]
BLOCKING = ("ask", "hold")


@dataclass(frozen=True)
class Submission:
    """A text about to be published, with what the checks may need to know about it."""

    ctx: "Context"
    text: str
    thread: "Thread"
    reply_to: int | None = None
    edit_of: "Post | None" = None            # the published post this text would replace
    skip: frozenset[str] = frozenset()       # check kinds already settled (e.g. "send anyway")

    @property
    def is_edit(self) -> bool:
        return self.edit_of is not None


@dataclass(frozen=True)
class Verdict:
    action: Action
    kind: str                                  # which check decided: "crisis", "disclosure", ...
    answer_key: str | None = None              # the private answer to the author, if any
    answer_params: dict[str, Any] = field(default_factory=dict)
    quoted: tuple[str, ...] = ()               # the matched parts, quoted back to the author only
    hold: bool = False                         # an ``alert`` that also holds the post
    stored: bool = True                        # a ``hold`` that stores the post held (False: the
                                               # text is kept back as a draft, e.g. a mute)
    note: bool = False                         # a low-priority note for the consultant's queue
    detail: str = ""                           # sub-kind for the queue/log (never text)
    # Called once the outcome is known, with the stored post or None when nothing was stored
    # (alerts that link the post, queue items for held posts, the disclosure question).
    after: Callable[["Context", "Post | None"], None] | None = None


PUBLISH = Verdict("publish", "none")

Check = Callable[[Submission], Verdict]


@dataclass(frozen=True)
class _Registered:
    order: int
    kind: str
    func: Check


_CHECKS: list[_Registered] = []


def register(kind: str, order: int) -> Callable[[Check], Check]:
    """Add a check to the pipeline. Lower ``order`` runs first (crisis 10, disclosure 15, mute 20, pre-moderation 30)."""

    def tag(func: Check) -> Check:
        if any(r.kind == kind for r in _CHECKS):
            raise ValueError(f"check {kind!r} registered twice")
        _CHECKS.append(_Registered(order, kind, func))
        _CHECKS.sort(key=lambda r: r.order)
        return func

    return tag


def registered() -> list[str]:
    return [r.kind for r in _CHECKS]


def run_checks(sub: Submission) -> list[Verdict]:
    """Every verdict that is not a plain ``publish``, in pipeline order, up to the first blocking one."""
    _load_builtin_checks()
    found: list[Verdict] = []
    for check in _CHECKS:
        if check.kind in sub.skip:
            continue
        verdict = check.func(sub)
        if verdict.action == "publish" and not verdict.note:
            continue
        log.info("check fired: %s %s%s", check.kind, verdict.action, f" ({verdict.detail})" if verdict.detail else "")
        found.append(verdict)
        if verdict.action in BLOCKING:
            break
    return found


@dataclass
class Screening:
    """What the pipeline decided for one submission, and what is left to do once it is stored."""

    verdicts: list[Verdict]

    @property
    def blocking(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.action in BLOCKING), None)

    @property
    def asks(self) -> Verdict | None:
        found = self.blocking
        return found if found is not None and found.action == "ask" else None

    @property
    def stops(self) -> bool:
        """Nothing is stored now: the author is asked, or the text is kept as a draft."""
        found = self.blocking
        return found is not None and (found.action == "ask" or not found.stored)

    @property
    def held(self) -> bool:
        found = self.blocking
        return (found is not None and found.action == "hold" and found.stored) or any(
            v.action == "alert" and v.hold for v in self.verdicts)

    @property
    def alerted(self) -> bool:
        return any(v.action == "alert" for v in self.verdicts)

    def kinds(self) -> frozenset[str]:
        return frozenset(v.kind for v in self.verdicts)

    def answer_now(self, ctx: "Context") -> None:
        """Private answers that must go out at once (crisis), before anything else is queued."""
        for verdict in self.verdicts:
            if verdict.action == "alert" and verdict.answer_key:
                ctx.reply(verdict.answer_key, **verdict.answer_params)

    def settle(self, ctx: "Context", post: "Post | None") -> None:
        """Finish once the outcome is known: ``post`` is the stored post, or None when nothing was
        stored (the author is being asked first); each verdict's follow-up runs either way."""
        for verdict in self.verdicts:
            if verdict.after is not None:
                verdict.after(ctx, post)
            if verdict.action == "hold" and verdict.answer_key and post is not None:
                ctx.reply(verdict.answer_key, post=post.id, **verdict.answer_params)


def screen(sub: Submission) -> Screening:
    screening = Screening(run_checks(sub))
    screening.answer_now(sub.ctx)
    return screening


_loaded = False


def _load_builtin_checks() -> None:
    """Import the modules whose checks are part of every pipeline (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from moderation import crisis, disclosure, gates  # noqa: F401  (registers their checks)
