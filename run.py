#!/usr/bin/env python3
"""Peerhaven composition root: config -> storage -> services -> transports -> scheduler."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from bot.config import Config, ConfigError, check_secrets, load_config
from bot.logging_setup import setup_logging
from storage.crypto import DataKeyMismatch, load_data_key

log = logging.getLogger("peerhaven")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Peerhaven peer support bot")
    parser.add_argument("--config", help="path to config.toml (default: ./config.toml if present)")
    parser.add_argument("--console", action="store_true", help="run the local multi-user console transport")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--verbose", action="store_true", help="log at INFO in console mode")
    return parser.parse_args(argv)


def config_path(args: argparse.Namespace) -> str | None:
    if args.config is None and Path("config.toml").exists():
        return "config.toml"
    return args.config


def resolve_config(args: argparse.Namespace) -> Config:
    config = load_config(config_path(args))
    if args.console:
        config.console.enabled = True
    elif not (config.telegram.enabled or config.matrix.enabled):
        config.console.enabled = True      # nothing configured: the console is the only way in
    check_secrets(config)
    return config


def make_transports(config: Config) -> dict:
    transports: dict = {}
    if config.console.enabled:
        from bot.transports.console import ConsoleTransport
        transports["console"] = ConsoleTransport()
    if config.telegram.enabled and not config.console.enabled:
        from bot.transports.telegram import TelegramTransport
        transports["telegram"] = TelegramTransport.from_config(config.telegram)
    if config.matrix.enabled and not config.console.enabled:
        from bot.transports.matrix import MatrixTransport
        transports["matrix"] = MatrixTransport.from_config(
            config.matrix, language=config.bot.default_language, display_name=config.bot.display_name)
    return transports


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw and raw[0] == "admin":
        from bot.admin.cli import main as admin_main
        return admin_main(raw[1:])
    args = parse_args(argv)
    setup_logging("WARNING")
    from bot import startup

    try:
        config = resolve_config(args)
        only_console = config.console.enabled
        had_key = bool(os.environ.get(config.bot.data_key_env)) or Path(config.bot.data_key_file or "").exists()
        data_key = load_data_key(config.bot.data_key_env, config.bot.data_key_file, allow_file=only_console)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    no_group = startup.no_group(config, config_path(args))
    if args.check_config:
        print("configuration is valid" + (" (see the warning above)" if no_group else ""))
        if no_group:
            print(no_group, file=sys.stderr)
        return 0
    if not had_key:
        print(startup.key_file_created(config), file=sys.stderr)
    if no_group:
        print(no_group, file=sys.stderr)
    level = config.bot.log_level if (not only_console or args.verbose) else "WARNING"
    setup_logging(level)
    from bot.lifecycle import build_runtime, run_console, run_forever

    try:
        rt = build_runtime(config, data_key, make_transports(config))
    except DataKeyMismatch as exc:
        print(f"config error: {exc}\n{startup.key_mismatch(config)}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if only_console:
        if sys.stdin.isatty():
            print(startup.banner(config), file=sys.stderr)
        asyncio.run(run_console(rt))
        return 0

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_forever(rt, stop)

    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
