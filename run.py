#!/usr/bin/env python3
"""Peerhaven composition root: config -> storage -> services -> transports -> scheduler."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bot.config import Config, ConfigError, check_secrets, load_config
from bot.logging_setup import setup_logging
from storage.crypto import load_data_key

log = logging.getLogger("peerhaven")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Peerhaven peer support bot")
    parser.add_argument("--config", help="path to config.toml (default: ./config.toml if present)")
    parser.add_argument("--console", action="store_true", help="run the local multi-user console transport")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--verbose", action="store_true", help="log at INFO in console mode")
    return parser.parse_args(argv)


def resolve_config(args: argparse.Namespace) -> Config:
    path = args.config
    if path is None and Path("config.toml").exists():
        path = "config.toml"
    config = load_config(path)
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
    try:
        config = resolve_config(args)
        only_console = config.console.enabled
        data_key = load_data_key(config.bot.data_key_env, config.bot.data_key_file, allow_file=only_console)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print("configuration is valid")
        return 0
    level = config.bot.log_level if (not only_console or args.verbose) else "WARNING"
    setup_logging(level)
    from bot.lifecycle import build_runtime, run_console, run_forever

    try:
        rt = build_runtime(config, data_key, make_transports(config))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if only_console:
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
