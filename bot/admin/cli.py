"""The operator's command line: ``peerhaven admin …`` (also ``python run.py admin …``).

Every command prints plain lines; a refusal or a config problem is one line on stderr and
exit status 2, as for config errors at start. No command prints a platform identity except
an approved break-glass request, on the approving operator's terminal, once.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from typing import Callable

from bot.admin import maintenance, operators
from bot.admin.operators import OperatorError
from bot.clock import Clock, SystemClock
from bot.config import Config, ConfigError, load_config
from bot.logging_setup import setup_logging
from moderation import roles
from storage.admin_repo import AdminRepo
from storage.crypto import IdentityVault, load_data_key
from storage.db import LeaderLock, make_engine, migrate
from storage.repo import Database, UnitOfWork

SMALL = 3      # counts below this are shown as "fewer than 3" (nobody can be singled out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerhaven admin", description="Peerhaven operator commands")
    parser.add_argument("--config", help="path to config.toml (default: ./config.toml if present)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="queues, failed deliveries, scheduler and transports")
    outbox = sub.add_parser("outbox", help="failed deliveries").add_subparsers(dest="action", required=True)
    outbox.add_parser("failed", help="list failed deliveries")
    retry = outbox.add_parser("retry", help="send failed deliveries again")
    retry.add_argument("target", help="an outbox id, or 'all'")
    cons = sub.add_parser("consultant", help="grant or revoke the consultant role")
    cons.add_argument("action", choices=("grant", "revoke"))
    cons.add_argument("group", help="group slug")
    cons.add_argument("identity", help="platform:id, e.g. telegram:123456789")
    inv = sub.add_parser("invite", help="create or revoke invite codes")
    inv_sub = inv.add_subparsers(dest="action", required=True)
    create = inv_sub.add_parser("create", help="a new invite code")
    create.add_argument("group", help="group slug")
    create.add_argument("--community", help="community slug the code also sets")
    create.add_argument("--uses", type=_positive, help="how many people may join with it (default: no limit)")
    create.add_argument("--days", type=_positive, help="valid for this many days (default: until revoked)")
    revoke = inv_sub.add_parser("revoke", help="stop an invite code from working")
    revoke.add_argument("code")
    stats = sub.add_parser("export-stats", help="activity counts as JSON (identify nobody)")
    stats.add_argument("--days", type=int, default=30)
    backup = sub.add_parser("backup", help="an online copy of the database")
    backup.add_argument("path")
    rotate = sub.add_parser("rotate-key", help="re-encrypt everything under a new data key")
    rotate.add_argument("--new-key-env", default="PEERHAVEN_NEW_DATA_KEY",
                        help="environment variable holding the new key (the old one stays in bot.data_key_env)")
    bg = sub.add_parser("breakglass", help="see a member's platform identity (two operators)")
    bg_sub = bg.add_subparsers(dest="action", required=True)
    req = bg_sub.add_parser("request", help="ask for a member's identity, with a reason")
    req.add_argument("group")
    req.add_argument("pseudonym")
    req.add_argument("--reason", required=True)
    req.add_argument("--operator", required=True)
    appr = bg_sub.add_parser("approve", help="approve another operator's request (within 24 hours)")
    appr.add_argument("request", type=int)
    appr.add_argument("--operator", required=True)
    return parser


def _config(path: str | None) -> Config:
    if path is None and os.path.exists("config.toml"):
        path = "config.toml"
    return load_config(path)


def _open(config: Config, clock: Clock) -> Database:
    key = load_data_key(config.bot.data_key_env, config.bot.data_key_file, allow_file=True)
    engine = make_engine(config.storage.url)
    migrate(engine)
    keys_engine = make_engine(config.storage.keys_url) if config.storage.keys_url else None
    return Database(engine, IdentityVault(key), clock, keys_engine)


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def cmd_status(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    with db.uow() as uow:
        repo = AdminRepo(uow.session, db.clock)
        depths = repo.queue_depths()
        state = repo.state_items("status.")
    now = db.clock.now()
    out("outbox (lane 0 = answers, 1 = fan-out):")
    if not depths:
        out("  empty")
    for d in depths:
        age = f", oldest {_age(now - d.oldest)}" if d.oldest else ""
        out(f"  lane {d.lane} {d.platform:9} {d.status:8} {d.count}{age}")
    failed = sum(d.count for d in depths if d.status == "failed")
    out(f"failed rows: {failed}" + (" (see: admin outbox failed)" if failed else ""))
    if db.is_postgres:
        lock = LeaderLock(db.engine)
        free = lock.acquire()
        lock.release()
        out("scheduler: " + ("no process holds the scheduler lock" if free else "elected (another process holds the lock)"))
    else:
        out("scheduler: SQLite — the one running process runs it")
    for key, value in sorted(state.items()):
        out(f"{key.removeprefix('status.')}: {value}")
    return 0


def cmd_outbox(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    with db.uow() as uow:
        repo = AdminRepo(uow.session, db.clock)
        if args.action == "failed":
            rows = repo.failed_rows()
            out(f"{len(rows)} failed" if rows else "no failed deliveries")
            for item, platform in rows:
                out(f"  {item.id}: {platform} account {item.account_id}, {item.kind}/{item.op}, "
                    f"{item.attempts} attempts, {item.error or 'error not recorded'}")
            return 0
        target = None if args.target == "all" else _int(args.target, "outbox retry")
        count = repo.retry_failed(target)
    if target is not None and count == 0:
        raise OperatorError(f"outbox row {target} is not a failed delivery")
    out(f"{count} put back in the queue")
    return 0


def _int(value: str, what: str) -> int:
    if not value.isdigit():
        raise OperatorError(f"{what}: expected a number or 'all', got {value!r}")
    return int(value)


def cmd_consultant(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    platform, _, user_id = args.identity.partition(":")
    if platform not in ("telegram", "matrix", "console") or not user_id:
        raise OperatorError("identity: expected <telegram|matrix|console>:<id>")
    with db.uow() as uow:
        repo = AdminRepo(uow.session, db.clock)
        group = repo.group(args.group)
        if group is None:
            raise OperatorError(f"group {args.group!r} does not exist")
        account = uow.accounts.find(platform, user_id)
        member = repo.member_of_account(group.id, account) if account else None
        if member is None:
            raise OperatorError(f"that account has not joined {args.group} yet (they send /join first)")
        change = roles.grant_by_operator if args.action == "grant" else roles.revoke_by_operator
        changed = change(uow, member, "CLI")
        role = member.role
    if not changed:
        out(f"member {member.id} already has the role {role} (kept across restarts now)")
        return 0
    out(f"member {member.id} in {args.group} is now {role} (kept across restarts)")
    return 0


def cmd_invite(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    with db.uow() as uow:
        repo = AdminRepo(uow.session, db.clock)
        if args.action == "revoke":
            invite = repo.invite(args.code)
            if invite is None or invite.revoked_at is not None:
                raise OperatorError(f"invite code {args.code!r} is not active")
            invite.revoked_at = db.clock.now()
            uow.audit.add("invite.revoke", group_id=invite.group_id, target=f"invite:{invite.id}",
                          detail="by operator CLI")
            out(f"invite code {invite.code} revoked")
            return 0
        group = repo.group(args.group)
        if group is None:
            raise OperatorError(f"group {args.group!r} does not exist")
        community_id = None
        if args.community:
            community = uow.groups.community(group.id, args.community)
            if community is None:
                raise OperatorError(f"community {args.community!r} does not exist in {args.group}")
            community_id = community.id
        invite = uow.groups.new_invite(group.id, community_id)
        invite.max_uses = args.uses
        invite.expires_at = db.clock.now() + timedelta(days=args.days) if args.days else None
        uow.audit.add("invite.create", group_id=group.id, target=f"invite:{invite.id}", detail="by operator CLI")
        limits = [f"{args.uses} uses" if args.uses else "no limit on uses",
                  f"valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC" if invite.expires_at else "valid until revoked"]
        out(f"{invite.code} ({', '.join(limits)})")
    return 0


def _positive(value: str) -> int:
    """--uses/--days: a whole number from 1 to 10000 (as `mod invite` accepts)."""
    if not value.isdigit() or not 0 < int(value) <= 10000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 10000, got {value!r}")
    return int(value)


def _masked(value: int) -> int | str:
    return value if value >= SMALL else f"fewer than {SMALL}"


def cmd_stats(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    since = db.clock.now() - timedelta(days=max(1, args.days))
    with db.uow() as uow:
        repo = AdminRepo(uow.session, db.clock)
        groups = {g.slug: {k: _masked(v) for k, v in repo.group_counts(g.id, since).items()}
                  for g in uow.groups.all()}
    out(json.dumps({"since": since.isoformat(), "days": args.days, "groups": groups}, indent=2,
                   ensure_ascii=False))
    return 0


def cmd_breakglass(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    with db.uow() as uow:
        repo = AdminRepo(uow.session, db.clock)
        operator = operators.authenticate(config, uow, db.vault, args.operator)
        if args.action == "request":
            request_id = operators.request(config, uow, repo, operator, args.group, args.pseudonym, args.reason)
            out(f"break-glass request {request_id} recorded; a different operator approves it with "
                f"`peerhaven admin breakglass approve {request_id} --operator NAME` within 24 hours")
            return 0
    # An expired request must stay marked expired even though approval is refused.
    try:
        with db.uow() as uow:
            repo = AdminRepo(uow.session, db.clock)
            operator = operators.authenticate(config, uow, db.vault, args.operator)
            identities = operators.approve(config, uow, repo, db.vault, operator, args.request)
    except OperatorError as exc:
        if "expired" in str(exc):
            with db.uow() as uow:
                row = AdminRepo(uow.session, db.clock).breakglass(args.request)
                if row is not None and row.status == "pending":
                    row.status = "expired"
                    uow.audit.add("breakglass.expired", group_id=row.group_id, target=f"member:{row.member_id}",
                                  detail=f"request {row.id}")
        raise
    out(f"request {args.request} approved; shown once, not stored anywhere:")
    for platform, ident in identities:
        fields = ", ".join(f"{k}={v}" for k, v in ident.items() if v)
        out(f"  {platform}: {fields}")
    return 0


COMMANDS = {"status": cmd_status, "outbox": cmd_outbox, "consultant": cmd_consultant, "invite": cmd_invite,
            "export-stats": cmd_stats, "breakglass": cmd_breakglass,
            "backup": maintenance.cmd_backup, "rotate-key": maintenance.cmd_rotate}


def main(argv: list[str] | None = None, clock: Clock | None = None,
         out: Callable[[str], None] = print) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("WARNING")
    try:
        config = _config(args.config)
        db = _open(config, clock or SystemClock())
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args, config, db, out)
    except (OperatorError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.engine.dispose()


def entry() -> None:
    """The ``peerhaven`` console script: ``peerhaven admin …`` (the bot itself: run.py)."""
    argv = sys.argv[1:]
    if not argv or argv[0] != "admin":
        print("usage: peerhaven admin <command> … (run the bot with: python run.py)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(argv[1:]))


__all__ = ["main", "entry", "UnitOfWork"]
