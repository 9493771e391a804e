"""No log line, at any level down to DEBUG, holds a platform identity, a card field or what
someone wrote: a session that touches every privacy path (posts, card, reveal, report,
a message to the consultant, mydata, forget) is logged at DEBUG and searched."""
from __future__ import annotations

import json
import logging

import pytest

from tests.harness import Harness

IDS = ["ann-private-7731", "bob-private-8842"]
TYPED = ["My sister lives on Elm Street", "Annelise", "annelise.k@example.org",
         "worried about this reply", "please call me on Friday", "Nights are long"]


def _everything(record: logging.LogRecord) -> str:
    extras = {k: v for k, v in vars(record).items() if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__}
    return record.getMessage() + " " + json.dumps(extras, default=str, ensure_ascii=False)


async def test_no_identity_or_typed_text_in_any_log_line(make_runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness(make_runtime())
    ann, bob = IDS
    await h.onboard(ann, "Birch")
    await h.onboard(bob, "Willow")
    await h.say(ann, f"/new {TYPED[5]}\n{TYPED[0]}")
    await h.say(ann, f"/card name {TYPED[1]}")
    await h.say(ann, f"/card contact {TYPED[2]}")
    await h.say(bob, "/card name Bjarnulf")
    await h.say(ann, "/reveal to Willow")
    await h.say(bob, f"/accept {h.last(bob).split('/accept ')[1].split()[0]}")
    await h.say(bob, "/reply 1 Same for me")
    await h.say(ann, f"/report 2 {TYPED[3]}")
    await h.say(ann, f"/tell consultant {TYPED[4]}")
    await h.say(ann, "/mydata")
    await h.say(ann, "/forget")
    await h.say(ann, "/forget confirm")
    assert "Everything about you is erased" in h.last(ann)
    lines = [_everything(r) for r in caplog.records]
    assert lines, "nothing was logged: the test would prove nothing"
    for secret in IDS + TYPED + ["Bjarnulf", "Same for me"]:
        leaked = [line for line in lines if secret in line]
        assert not leaked, (secret, leaked[:2])
