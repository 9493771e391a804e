"""On the console (run as the README says): mydata is printed to its owner only, and forget
prints the other member an updated copy that shows "[removed]"."""
from __future__ import annotations

import json
from pathlib import Path

from tests.test_console import messages_for, run_console

SCRIPT = """annaxq: /start
annaxq: /agree
annaxq: /join WELCOME
annaxq: /name Birch
borisxq: /start
borisxq: /agree
borisxq: /join WELCOME
borisxq: /name Willow
annaxq: /new Nights
  The nights are the hardest part
borisxq: /reply 1 Mine too, truly
annaxq: /mydata
annaxq: /forget
annaxq: /forget confirm
"""


def test_mydata_and_forget_on_the_console(tmp_path: Path) -> None:
    result = run_console(tmp_path, SCRIPT)
    assert result.returncode == 0, result.stderr
    anna, boris = messages_for(result.stdout, "annaxq"), messages_for(result.stdout, "borisxq")
    [file_message] = [m for m in anna if "📎 peerhaven-mydata.json" in m]
    data = json.loads(file_message.split("📎 peerhaven-mydata.json\n", 1)[1])
    text = json.dumps(data, ensure_ascii=False)
    assert "The nights are the hardest part" in text and "annaxq" in text
    assert "borisxq" not in text and "Mine too" not in text
    assert not any("peerhaven-mydata" in m for m in boris)

    first = boris.index(next(m for m in boris if "The nights are the hardest part" in m))
    updated = [m for m in boris[first + 1:] if m.startswith("Updated:")]
    assert any(m.rstrip().endswith("[removed]") for m in updated), updated
    assert all("hardest part" not in m and "Birch" not in m and "Nights" not in m for m in updated)
    assert any("Everything about you is erased" in m for m in anna)
