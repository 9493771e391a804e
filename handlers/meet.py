"""The café handshake: ``meet`` gives a short code; the other sends ``meet <code>``; both see
the other's pseudonym and the same two-word check phrase and confirm within 2 minutes; then
each sees the other's card. A guessed code can never link two people silently.

Codes come from ``secrets``, are single use, valid 15 minutes, only within the group, and
only their keyed hash is stored. Nothing here logs a code.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from bot.clock import as_utc
from bot.router import Context, command
from handlers.reveals import notify
from handlers.reveals_service import record_mutual_card_reveal
from storage.models_reveals import MeetCode, RevealPrefs

ALPHABET = "ACDEFGHJKMNPQRTWXY34679"        # no look-alikes (0/O, 1/I/L, 5/S, 8/B, 2/Z, U/V)
CODE_LENGTH = 5
CODE_MINUTES, CONFIRM_MINUTES = 15, 2
WRONG_PER_HOUR, WRONG_IN_A_ROW = 5, 20
# Understood in English and Norwegian alike, so both people can read the phrase aloud.
WORDS = ("piano", "radio", "tango", "kiwi", "mango", "safari", "lava", "opera", "banjo", "sofa", "taxi",
         "robot", "pizza", "salsa", "yoga", "panda", "koala", "tiger", "zebra", "motor", "cobra", "delta",
         "turbo", "sigma", "lotus", "kakadu", "bambus", "kanel", "tulipan", "kompass", "fiol", "cello")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


@command("meet", needs_member=True, group="reveals")
def meet(ctx: Context) -> None:
    arg = "".join(ctx.args.split()).upper()
    if arg == "":
        offer(ctx)
    elif arg == "CONFIRM":
        confirm(ctx)
    elif arg == "CANCEL":
        cancel(ctx)
    else:
        answer(ctx, arg)


def offer(ctx: Context) -> None:
    member, uow = ctx.member, ctx.uow
    if uow.reveals.prefs(member.id).meet_locked:
        ctx.reply("reveal.meet_locked")
        return
    if not uow.reveals.card(member.id)["name"]:
        ctx.reply("reveal.need_card")
        return
    code = new_code()
    uow.reveals.add_meet(member.group_id, member.id, uow.reveals.code_hash(member.group_id, code),
                         ctx.clock.now() + timedelta(minutes=CODE_MINUTES))
    ctx.reply("reveal.meet_code", code=code, count=CODE_MINUTES)


def _allowed(ctx: Context, prefs: RevealPrefs) -> bool:
    """Wrong codes are limited per member: a few an hour, and a lock after many in a row."""
    now = ctx.clock.now()
    if prefs.meet_locked:
        ctx.reply("reveal.meet_locked")
        return False
    if prefs.meet_window_start is None or now - as_utc(prefs.meet_window_start) >= timedelta(hours=1):
        prefs.meet_window_start, prefs.meet_window_fails = now, 0
    if prefs.meet_window_fails >= WRONG_PER_HOUR:
        ctx.reply("reveal.meet_slow_down")
        return False
    return True


def _wrong(ctx: Context, prefs: RevealPrefs) -> None:
    prefs.meet_window_fails += 1
    prefs.meet_fails_in_row += 1
    if prefs.meet_fails_in_row >= WRONG_IN_A_ROW:
        prefs.meet_locked = True
        ctx.reply("reveal.meet_locked")
        return
    ctx.reply("reveal.meet_wrong")


def answer(ctx: Context, code: str) -> None:
    member, uow = ctx.member, ctx.uow
    prefs = uow.reveals.prefs(member.id)
    if not _allowed(ctx, prefs):
        return
    if not uow.reveals.card(member.id)["name"]:
        ctx.reply("reveal.need_card")
        return
    row = None
    if len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code):
        row = uow.reveals.open_meet(member.group_id, uow.reveals.code_hash(member.group_id, code))
    if row is None:
        _wrong(ctx, prefs)
        return
    if row.member_id == member.id:
        ctx.reply("reveal.meet_own_code")
        return
    owner = uow.members.get(row.member_id)
    if owner is None or owner.status != "active":
        _wrong(ctx, prefs)
        return
    prefs.meet_fails_in_row = 0
    row.status, row.partner_member_id = "checking", member.id
    row.phrase = f"{secrets.choice(WORDS)} {secrets.choice(WORDS)}"
    row.confirm_by = ctx.clock.now() + timedelta(minutes=CONFIRM_MINUTES)
    buttons = [[("reveal.button_confirm", "/meet confirm"), ("reveal.button_cancel", "/meet cancel")]]
    for me, other in ((owner, member), (member, owner)):
        notify(uow, me, "reveal.meet_check", about=other, phrase=row.phrase, count=CONFIRM_MINUTES,
               buttons=buttons)


def _pending(ctx: Context) -> MeetCode | None:
    row = ctx.uow.reveals.checking_meet(ctx.member.id)
    if row is None:
        ctx.reply("reveal.meet_nothing")
        return None
    if as_utc(row.confirm_by) <= ctx.clock.now():
        row.status = "ended"
        ctx.reply("reveal.meet_too_late")
        return None
    return row


def confirm(ctx: Context) -> None:
    row = _pending(ctx)
    if row is None:
        return
    if row.member_id == ctx.member.id:
        row.owner_confirmed = True
    else:
        row.partner_confirmed = True
    if not (row.owner_confirmed and row.partner_confirmed):
        ctx.reply("reveal.meet_wait_other")
        return
    row.status = "done"
    owner, partner = ctx.uow.members.get(row.member_id), ctx.uow.members.get(row.partner_member_id)
    record_mutual_card_reveal(ctx.uow, owner, partner, "meet")
    notify(ctx.uow, owner, "reveal.exchanged", about=partner)
    notify(ctx.uow, partner, "reveal.exchanged", about=owner)


def cancel(ctx: Context) -> None:
    row = _pending(ctx)
    if row is None:
        return
    row.status = "ended"
    other_id = row.partner_member_id if row.member_id == ctx.member.id else row.member_id
    other = ctx.uow.members.get(other_id)
    ctx.reply("reveal.meet_cancelled")
    if other is not None:
        notify(ctx.uow, other, "reveal.meet_cancelled")
