"""What `run.py` tells the person who starts the bot (on stderr, in plain sentences).

These are messages for the operator at a terminal, not for participants, so they are plain
English here rather than catalogue entries. Standard output stays the console transcript.
"""
from __future__ import annotations

from pathlib import Path

from bot.config import Config


def data_location(config: Config) -> str:
    url = config.storage.url
    if url.startswith("sqlite:///"):
        return str(Path(url[len("sqlite:///"):]).resolve())
    return url.split("@")[-1]          # a server: never print the user name or password


def key_file_created(config: Config) -> str:
    path = Path(config.bot.data_key_file or "").resolve()
    return (f"Note: {config.bot.data_key_env} is not set, so I created a local data key in {path}.\n"
            f"  It encrypts the stored identities: keep it with the database, and set "
            f"{config.bot.data_key_env} (to its contents) before running for real.")


def no_group(config: Config, config_path: str | None) -> str | None:
    if config.groups:
        return None
    where = f"{config_path} has" if config_path else "No config.toml was found, and the defaults have"
    return (f"Warning: {where} no group, so every /join will fail.\n"
            "  Copy config.example.toml to config.toml (it has a group \"reconnect\" with the invite "
            "code WELCOME), or pass --config <file>.")


def key_mismatch(config: Config) -> str:
    env, key_file = config.bot.data_key_env, Path(config.bot.data_key_file or "").resolve()
    return (f"The data in {data_location(config)} was written with a different data key than the one "
            f"I have now.\n"
            f"  If it was first run without {env}, the key it used is in {key_file}: unset {env}, or set "
            f"it to that file's contents.\n"
            f"  To start afresh instead (everything stored is lost), delete {data_location(config)} "
            f"(and its -wal/-shm files) and, when {env} is set, {key_file}.")


def consultants(config: Config) -> str:
    found = [f"{ident.partition(':')[2]} (group {g.slug})" for g in config.groups
             for ident in g.consultants if ident.startswith("console:")]
    return ", ".join(found) or "nobody on the console"


def banner(config: Config) -> str:
    codes = ", ".join(code for g in config.groups for code in g.invite_codes) or "none configured"
    return (
        "Peerhaven console. Type one message a line as  <user>: <text>   e.g.  ann: /start\n"
        "  Each <user> is a separate person (created on first use); others never see the name.\n"
        "  A message on several lines: end a line with \\ to continue on the next one.\n"
        f"  Consultant: {consultants(config)}. Invite codes: {codes}.\n"
        f"  Data: {data_location(config)}. Ctrl-D ends the session (pending messages are delivered first).\n"
    )
