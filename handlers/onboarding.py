"""Onboarding and help: start, agree, join, name, community, help, language, me."""
from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from functools import lru_cache

from bot.router import Context, command
from bot.unicode_text import compact_skeleton, strip_invisible
from moderation.sanctions import join_refusal
from storage.models import Member
from storage.repo import pseudonym_key

PSEUDONYM_MIN, PSEUDONYM_MAX = 2, 32
# Role words (every catalogue language's consultant label among them), compared by skeleton.
RESERVED_WORDS = ("consultant", "konsulent", "moderator")
FRESH_RE = re.compile(r"^(--|—|–|-)fresh(\s+|$)", re.IGNORECASE)
# Common given names: a pseudonym that looks like a real name gets a gentle warning.
_COMMON_FIRST_NAMES = {
    "anna", "anne", "ingrid", "kari", "marit", "liv", "eva", "hanne", "nina", "sara", "maria", "emma",
    "nora", "ida", "ole", "lars", "per", "jan", "kjell", "knut", "arne", "john", "james", "mary",
    "linda", "susan", "karen", "lisa", "michael", "david", "peter", "thomas", "erik", "hans", "bjorn",
    "silje", "camilla", "tone", "heidi", "randi", "solveig", "astrid", "elisabeth", "kristin",
}


def next_step(ctx: Context) -> None:
    """Tell the person the next onboarding step, or that they are ready."""
    person = ctx.person
    if person.consent_at is None:
        ctx.reply("onboarding.rules", contacts=ctx.config.safety.emergency_contacts,
                  hours=ctx.config.moderation.hours_text(ctx.lang), buttons=[[("button.agree", "/agree")]])
        return
    member = ctx.member
    if member is None:
        ctx.reply("onboarding.need_join")
        return
    if not member.pseudonym:
        ctx.reply("onboarding.need_name")
        return
    communities = ctx.uow.groups.communities(member.group_id)
    if len(communities) > 1 and member.community_id is None:
        ctx.reply("onboarding.need_community", choices=", ".join(c.slug for c in communities))
        return
    ctx.reply("onboarding.ready", pseudonym=member.pseudonym)


@command("start", before_consent=True, group="start")
def start(ctx: Context) -> None:
    if ctx.person.consent_at is None:
        ctx.reply("onboarding.welcome", bot_name=ctx.config.bot.display_name)
    next_step(ctx)


@command("agree", before_consent=True, group="start")
def agree(ctx: Context) -> None:
    if ctx.person.consent_at is not None:
        ctx.reply("onboarding.already_agreed")
    else:
        ctx.person.consent_at = ctx.clock.now()
        ctx.reply("onboarding.agreed")
    next_step(ctx)


@command("join", group="start", needs_args=True)
def join(ctx: Context) -> None:
    code = ctx.args.strip().split()[0] if ctx.args.strip() else ""
    if not code:
        ctx.reply("onboarding.join_usage")
        return
    # Every attempt counts, right or wrong: invite codes must not be guessable by trying.
    limit = ctx.config.safety.joins_per_hour
    if ctx.uow.join_attempts.count_since(ctx.person.id, ctx.clock.now() - timedelta(hours=1)) >= limit:
        ctx.reply("hard.join_slow_down", count=limit)
        return
    ctx.uow.join_attempts.add(ctx.person.id)
    invite = ctx.uow.groups.invite(code)
    if invite is None:
        ctx.reply("onboarding.join_bad_code")
        return
    group = ctx.uow.groups.get(invite.group_id)
    refusal = join_refusal(ctx.uow, ctx.person.id, invite, ctx.clock.now())
    if refusal is not None:
        ctx.reply(refusal)
        return
    existing = ctx.uow.members.in_group(ctx.person.id, invite.group_id)
    if existing is not None:
        ctx.person.current_member_id = existing.id
        ctx.reply("onboarding.join_already", group=group.name)
        next_step(ctx)
        return
    directory = ctx.services["directory"]
    role = "consultant" if directory.is_consultant(group.slug, ctx.user) else "participant"
    community_id = invite.community_id
    communities = ctx.uow.groups.communities(group.id)
    if community_id is None and len(communities) == 1:
        community_id = communities[0].id     # nothing to choose, and nothing revealed by it
    member = ctx.uow.members.add(ctx.person.id, group.id, role, community_id)
    invite.uses += 1
    ctx.person.current_member_id = member.id
    ctx.uow.audit.add("member_join", group_id=group.id, actor_member_id=member.id, target=f"m{member.id}")
    ctx.reply("onboarding.joined", group=group.name)
    next_step(ctx)


def _normalise(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if ch.isalnum())


def pseudonym_problem(ctx: Context, name: str, member: Member) -> str | None:
    """The catalogue key explaining why ``name`` cannot be used, or None."""
    if not (PSEUDONYM_MIN <= len(name) <= PSEUDONYM_MAX) or len(pseudonym_key(name)) < PSEUDONYM_MIN:
        return "name.length"
    # Any printable text, but nothing that looks like a command, a thread id, a handle or a link.
    lowered = name.casefold()
    if (name[0] in "/!#-—–" or "@" in name or "://" in name or "www." in lowered or "\n" in name
            or not any(ch.isalnum() for ch in name)):
        return "name.characters"
    plain = _normalise(name)
    # Consultants post under their own (role) name by design; participants must stay anonymous.
    identities = [] if member.role == "consultant" else ctx.user.names()
    for ident in identities:
        ident_plain = _normalise(ident)
        if ident_plain and (plain == ident_plain or (len(ident_plain) >= 3 and ident_plain in plain)):
            return "name.is_platform_name"
        for part in re.split(r"[\s_.\-]+", ident):
            if len(part) >= 3 and _normalise(part) == plain:
                return "name.is_platform_name"
    other = ctx.uow.members.by_pseudonym(member.group_id, name)
    if other is not None and other.id != member.id:
        return "name.taken"
    # The consultant's label ("Lillian · consultant") must not be imitated in any script.
    compact = compact_skeleton(name)
    if any(word in compact for word in _reserved_words()):
        return "name.reserved"
    return None


@lru_cache(maxsize=1)
def _reserved_words() -> tuple[str, ...]:
    return tuple(compact_skeleton(w) for w in RESERVED_WORDS)


def looks_like_real_name(name: str) -> bool:
    words = name.split()
    if any(w.casefold() in _COMMON_FIRST_NAMES for w in words):
        return True
    return len(words) >= 2 and all(w[:1].isupper() and w[1:].islower() and w.isalpha() for w in words)


@command("name", group="start")
def name(ctx: Context) -> None:
    member = ctx.member
    if member is None:
        ctx.reply("onboarding.need_join")
        return
    raw = " ".join(strip_invisible(ctx.args).split())     # zero-width characters are never part of a name
    # Phones turn "--" into a dash; "name —fresh Oak" must not become a rename to "—fresh Oak".
    match = FRESH_RE.match(raw)
    fresh = match is not None
    if match is not None:
        raw = raw[match.end():].strip()
    if not raw:
        ctx.reply("name.usage")
        return
    problem = pseudonym_problem(ctx, raw, member)
    if problem is None and fresh and member.pseudonym and pseudonym_key(raw) == member.pseudonym_key:
        problem = "name.fresh_same"      # the old posts keep this name, so the new one must differ
    if problem is not None:
        ctx.reply(problem, name=raw, min=PSEUDONYM_MIN, count=PSEUDONYM_MAX)
        return
    had_name = bool(member.pseudonym)
    if fresh and had_name:
        start_over = ctx.services.get("start_over")
        if start_over is None:
            ctx.reply("name.fresh_unavailable")
            return
        member = start_over(ctx, member)
    old = member.pseudonym
    ctx.uow.members.set_pseudonym(member, raw)
    if looks_like_real_name(raw):
        ctx.reply("name.looks_real", name=raw)
    if fresh:
        ctx.reply("name.fresh_done", name=raw)
    elif old:
        ctx.uow.audit.add("member_rename", group_id=member.group_id, actor_member_id=member.id)
        ctx.reply("name.changed", name=raw)
    else:
        ctx.reply("name.set", name=raw)
    if not had_name:
        next_step(ctx)


@command("community", group="start", needs_args=True)
def community(ctx: Context) -> None:
    member = ctx.member
    if member is None:
        ctx.reply("onboarding.need_join")
        return
    choices = ctx.uow.groups.communities(member.group_id)
    slug = ctx.args.strip().casefold()
    chosen = next((c for c in choices if c.slug == slug), None)
    if chosen is None:
        ctx.reply("community.unknown", choices=", ".join(c.slug for c in choices) or "-")
        return
    member.community_id = chosen.id
    ctx.reply("community.set", community=chosen.name)
    if member.pseudonym:
        next_step(ctx)


# The order of the sections of `help`; a section a feature adds that is not named here
# comes after these, and the consultant's section is shown to consultants only.
HELP_SECTIONS = ("start", "threads", "notifications", "reveals", "cafes", "privacy")


def is_consultant(ctx: Context) -> bool:
    return any(m.role == "consultant" and m.status == "active"
               for m in ctx.uow.members.of_person(ctx.person.id))


def help_sections(ctx: Context, consultant: bool) -> list[dict]:
    """The overview, built from the router's commands: each section lists the first line
    (usage – what it does) of each command's ``help.cmd.<name>``."""
    by_group: dict[str, list[str]] = {}
    for spec in ctx.services["router"].specs():
        by_group.setdefault(spec.group or "other", []).append(spec.name)
    extra = sorted(g for g in by_group if g not in HELP_SECTIONS and g != "consultant")
    order = [*HELP_SECTIONS, *extra, *(["consultant"] if consultant else [])]
    i18n = ctx.services["i18n"]
    sections = []
    for group in order:
        lines = [{"t": f"help.cmd.{n}", "first_line": True} for n in by_group.get(group, [])]
        if group == "consultant":
            lines.insert(0, {"t": "help.consultant_intro"})
        if not lines:
            continue
        title_key = f"help.section.{group}"
        sections.append({"t": "help.section", "params": {
            "title": {"t": title_key} if i18n.has(title_key) else group, "lines": lines}})
    return sections


@command("help", before_consent=True, group="start", read_only=True)
def help_(ctx: Context) -> None:
    topic = ctx.args.strip().split()[0].lstrip("/!").casefold() if ctx.args.strip() else ""
    contacts = ctx.config.safety.emergency_contacts
    consultant = is_consultant(ctx)
    if topic:
        spec = ctx.services["router"].commands.get(topic)
        key = f"help.cmd.{spec.name}" if spec is not None else ""
        if spec is not None and ctx.services["i18n"].has(key) and (consultant or spec.group != "consultant"):
            ctx.reply("help.topic", text={"t": key}, contacts=contacts)
            return
        ctx.reply("help.no_topic", topic=topic[:40], contacts=contacts)
        return
    sections = help_sections(ctx, consultant)
    # So nobody waits silently: when the consultant is usually there (moderation.response_hours).
    sections.append({"t": "mod.response_hours", "params": {"hours": ctx.config.moderation.hours_text(ctx.lang)}})
    ctx.reply("help.overview", sections=sections, contacts=contacts)


@command("language", before_consent=True, aliases=("språk",), group="start")
def language(ctx: Context) -> None:
    code = ctx.args.strip().casefold()
    if code in ("no", "nob", "norsk", "bokmål", "bokmal"):
        code = "nb"
    if code not in ("en", "nb"):
        ctx.reply("language.usage")
        return
    ctx.person.language = code
    ctx.reply("language.set")


@command("me", group="privacy", read_only=True)
def me(ctx: Context) -> None:
    memberships = ctx.uow.members.of_person(ctx.person.id)
    if not memberships:
        ctx.reply("me.none")
        return
    rows = []
    for member in memberships:
        group = ctx.uow.groups.get(member.group_id)
        community = ctx.uow.groups.community_by_id(member.community_id) if member.community_id else None
        rows.append({"t": "me.membership", "params": {
            "group": group.name, "pseudonym": member.pseudonym or "-",
            "role": {"t": f"role.{member.role}"},
            "community": community.name if community else "-",
            "current": "*" if member.id == ctx.person.current_member_id else "",
        }})
    extra = ctx.services.get("me_sections")
    sections = extra(ctx) if extra else []
    sanctions = ctx.services.get("me_moderation")
    sections += sanctions(ctx) if sanctions else []
    quiet = "-"
    if ctx.person.quiet_start is not None and ctx.person.quiet_end is not None:
        quiet = f"{ctx.person.quiet_start // 60:02d}:{ctx.person.quiet_start % 60:02d}-" \
                f"{ctx.person.quiet_end // 60:02d}:{ctx.person.quiet_end % 60:02d}"
    ctx.reply("me.dashboard", memberships=rows, notify={"t": f"notify.mode.{ctx.person.notify}"},
              quiet=quiet, discreet={"t": "word.on" if ctx.person.discreet else "word.off"},
              sections=sections or [{"t": "me.no_reveals"}])
