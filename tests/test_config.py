"""Configuration errors name the key and exit 2, without a traceback."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, check_secrets, parse_config
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from tests.conftest import test_config
from tests.harness import Harness

ROOT = Path(__file__).resolve().parents[1]


def check(tmp_path: Path, text: str, env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MATRIX_"))}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "run.py", "--check-config", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, env=full_env, timeout=60)


def test_example_config_is_valid(tmp_path: Path) -> None:
    result = check(tmp_path, (ROOT / "config.example.toml").read_text())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("text, key", [
    ("[bot]\ndisplay_nmae = 'x'\n", "bot.display_nmae: unknown key"),
    ("[storage]\nurl = 5\n", "storage.url"),
    ("[bot]\ntimezone = 'Mars/Olympus'\n", "bot.timezone"),
    ("[[groups]]\nslug = 'Bad Slug'\nname = 'x'\n", "groups[0].slug"),
    ("[[groups]]\nname = 'x'\n", "groups[0].slug: required key is missing"),
    ("[telegram]\nenabled = true\ntoken_env = 'PEERHAVEN_TEST_NO_SUCH_VAR'\n",
     "telegram.token_env: environment variable PEERHAVEN_TEST_NO_SUCH_VAR is not set"),
    ("[bot\ndisplay_name = 'x'\n", "line 1"),
    ("[safety]\nposts_per_minute = 'many'\n", "safety.posts_per_minute"),
    ("[safety]\nlocal_place_names = ['Fjordvik', ' ']\n", "safety.local_place_names"),
    ("[safety]\nlocal_place_names = 'Fjordvik'\n", "safety.local_place_names"),
    ("[safety]\ncrisis_words = { de = ['x'] }\n", "safety.crisis_words"),
])
def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    result = check(tmp_path, text)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "run.py", "--check-config", "--config", str(tmp_path / "nope.toml")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "file not found" in result.stderr


def test_matrix_needs_password_or_token() -> None:
    config = parse_config("[matrix]\nenabled = true\npassword_env = 'PH_NO_PW'\naccess_token_env = 'PH_NO_TOK'\n")
    with pytest.raises(ConfigError, match="matrix.password_env"):
        check_secrets(config, env={})
    check_secrets(config, env={"PH_NO_TOK": "t"})


def test_duplicate_invite_codes_rejected() -> None:
    text = ("[[groups]]\nslug='a'\nname='A'\ninvite_codes=['X']\n"
            "[[groups]]\nslug='b'\nname='B'\ninvite_codes=['x']\n")
    with pytest.raises(ConfigError, match="used twice"):
        parse_config(text)


def test_short_data_key_is_refused_naming_the_key(tmp_path: Path) -> None:
    result = check(tmp_path, "[telegram]\nenabled = true\ntoken = 'x'\n", env={"PEERHAVEN_DATA_KEY": "short"})
    assert result.returncode == 2
    assert "bot.data_key_env" in result.stderr and "32 characters" in result.stderr


def test_a_different_data_key_stops_the_start(make_runtime, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    rt = make_runtime(url=url)
    asyncio.run(Harness(rt).say("ann", "/start"))
    with pytest.raises(ConfigError, match="does not match"):
        build_runtime(test_config(url), "another-key-that-is-long-enough-0123456789", {"memory": MemoryTransport()})
