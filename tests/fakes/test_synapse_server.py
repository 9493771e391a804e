"""Tests of the Synapse test server and the nio-based MatrixUser helper.

Each test starts what it needs itself (no conftest): the E2E test shares one
module-scoped Synapse; the lifecycle and rate-limit tests start their own,
since they stop it / need a low ``rc_message``.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes.matrix_user import MatrixUser
from tests.fakes.synapse_server import SynapseError, SynapseServer, synapse_session


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory):
    with synapse_session(tmp_path_factory.mktemp("synapse")) as server:
        yield server


@pytest_asyncio.fixture
async def alice_and_bob(synapse: SynapseServer, tmp_path: Path):
    alice, bob = await asyncio.gather(
        MatrixUser.create(synapse, "alice", "Alice", tmp_path / "alice"),
        MatrixUser.create(synapse, "bob", "Bob", tmp_path / "bob", accept_invites=True),
    )
    try:
        yield alice, bob
    finally:
        await asyncio.gather(alice.close(), bob.close())


def test_start_register_stop(tmp_path: Path) -> None:
    server = SynapseServer(tmp_path / "hs")
    t0 = time.monotonic()
    server.start()
    try:
        print(f"synapse start-up: {time.monotonic() - t0:.2f}s")
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.health()
        assert _pid_alive(server.pid)

        admin_id, admin_token, admin_device = server.register_user(
            "admin", "pw-admin", admin=True, displayname="Admin"
        )
        user_id, user_token, _ = server.register_user("carol", "pw-carol")
        assert admin_id == "@admin:localhost" and user_id == "@carol:localhost"
        assert admin_token and admin_device and user_token
        whoami = server.request("GET", "/_matrix/client/v3/account/whoami", access_token=user_token)
        assert whoami["user_id"] == user_id
        profile = server.request(
            "GET", "/_matrix/client/v3/profile/" + urllib.parse.quote(admin_id)
        )
        assert profile["displayname"] == "Admin"
        # Registration is closed to the public; shared secret only.
        with pytest.raises(SynapseError) as err:
            server.request("POST", "/_matrix/client/v3/register", {"username": "x", "password": "y"})
        assert err.value.status in (401, 403)
        # No federation resource on the listener.
        with pytest.raises(SynapseError) as err:
            server.request("GET", "/_matrix/federation/v1/version")
        assert err.value.status in (400, 404)
        config_text = (tmp_path / "hs" / "homeserver.yaml").read_text()
        assert '"127.0.0.1"' in config_text and "federation_domain_whitelist" in config_text
    finally:
        pid = server.pid
        server.stop()
    assert not server.running
    assert not _pid_alive(pid)
    assert not server.health()
    server.stop()  # idempotent


def test_rate_limit_override(tmp_path: Path) -> None:
    """A low rc_message limits a normal user; override_ratelimit lifts it."""
    server = SynapseServer(tmp_path / "hs", rc_message=(0.1, 2))
    server.start()
    try:
        _, admin_token, _ = server.register_user("root", "pw-root", admin=True)
        user_id, token, _ = server.register_user("spammer", "pw-spam")
        room_id = server.request(
            "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, access_token=token
        )["room_id"]
        q = urllib.parse.quote(room_id)

        def send(i: int) -> None:
            server.request(
                "PUT",
                f"/_matrix/client/v3/rooms/{q}/send/m.room.message/t{i}",
                {"msgtype": "m.text", "body": f"msg {i}"},
                access_token=token,
            )

        with pytest.raises(SynapseError) as err:
            for i in range(10):
                send(i)
        assert err.value.status == 429

        assert server.override_ratelimit(user_id, admin_token) == {
            "messages_per_second": 0,
            "burst_count": 0,
        }
        for i in range(100, 130):
            send(i)
    finally:
        server.stop()


@pytest.mark.asyncio
async def test_encrypted_dm_between_two_users(alice_and_bob, tmp_path: Path) -> None:
    alice, bob = alice_and_bob
    room_id = await alice.open_encrypted_dm(bob.user_id, timeout=20)
    await bob.wait_for_membership(room_id, bob.user_id, "join", timeout=10)
    await bob.wait_for(lambda: bob.is_encrypted(room_id), 10, "bob knows the room is encrypted")

    # Alice -> Bob, encrypted; Bob decrypts.
    first_id = await alice.send_text(room_id, "hello bob, secret 42")
    msg = await bob.wait_for_message(room_id, body="hello bob, secret 42", sender=alice.user_id)
    assert msg.event_id == first_id and msg.encrypted and not msg.undecryptable
    assert bob.raw_event(first_id)["type"] == "m.room.encrypted"
    assert "hello" not in str(bob.raw_event(first_id)["content"])
    on_server = await bob.fetch_raw_event(room_id, first_id)
    assert on_server["type"] == "m.room.encrypted"
    assert on_server["content"]["algorithm"] == "m.megolm.v1.aes-sha2"

    # Bob replies; Alice decrypts and sees the reply relation.
    reply_id = await bob.send_text(room_id, "hi alice", reply_to_event_id=first_id)
    reply = await alice.wait_for_message(room_id, body="hi alice", sender=bob.user_id)
    assert reply.event_id == reply_id and reply.in_reply_to == first_id and reply.encrypted
    assert alice.raw_event(reply_id)["type"] == "m.room.encrypted"
    # the relation is kept in the clear on the encrypted event (as the spec asks)
    assert alice.raw_event(reply_id)["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == first_id

    # Alice edits her message; Bob's view shows the edit, not a new message.
    edit_id = await alice.edit(room_id, first_id, "hello bob, secret 43")
    edited = await bob.wait_for_message(room_id, lambda m: m.edited, body="hello bob, secret 43")
    assert edited.event_id == first_id and edited.edit_event_ids == [edit_id]
    assert edited.original_content["body"] == "hello bob, secret 42"
    assert edit_id not in [m.event_id for m in bob.messages(room_id)]

    # An image and a second text; then Alice redacts the text.
    image_id = await alice.send_image(room_id)
    image = await bob.wait_for_message(room_id, lambda m: m.event_id == image_id)
    assert image.msgtype == "m.image" and image.content["file"]["url"].startswith("mxc://")
    doomed_id = await alice.send_text(room_id, "oops, delete me")
    await bob.wait_for_message(room_id, body="oops, delete me")
    await alice.redact(room_id, doomed_id, reason="test")
    await bob.wait_for(
        lambda: doomed_id not in [m.event_id for m in bob.messages(room_id)], 20, "redaction"
    )
    gone = bob.message(room_id, doomed_id)
    assert gone is not None and gone.redacted and gone.body is None

    bodies = [(m.sender, m.body) for m in bob.messages(room_id)]
    assert bodies == [
        (alice.user_id, "hello bob, secret 43"),
        (bob.user_id, "hi alice"),
        (alice.user_id, "tiny.png"),
    ]
    assert not alice.sync_errors and not bob.sync_errors

    # Bob logs in a second device late (like a restarted bot with a fresh
    # device). Old messages are undecryptable for it; once Alice has its keys
    # her next message uses a new Megolm session that includes it.
    bob2 = await MatrixUser.create(
        bob.server, "bob", None, tmp_path / "bob2", password=bob.password, register=False
    )
    try:
        assert bob2.device_id != bob.device_id
        old = [m for m in bob2.messages(room_id) if m.event_id in (first_id, reply_id, image_id)]
        assert old and all(m.undecryptable and m.body is None for m in old), old
        await alice.wait_for_device(bob.user_id, bob2.device_id)
        late_id = await alice.send_text(room_id, "for both of your devices")
        late = await bob2.wait_for_message(room_id, body="for both of your devices")
        assert late.event_id == late_id and late.encrypted and not late.undecryptable
        await bob.wait_for_message(room_id, body="for both of your devices")

        # Keys imported later (a key backup/export) make the old ones readable:
        # the view decrypts pending events again, edits included.
        keys_file = tmp_path / "alice-keys.txt"
        await alice.client.export_keys(str(keys_file), "pass", count=1000)
        await bob2.client.import_keys(str(keys_file), "pass")
        healed = await bob2.wait_for_message(
            room_id, lambda m: m.event_id == first_id and not m.undecryptable
        )
        assert healed.body == "hello bob, secret 43" and healed.edited
    finally:
        await bob2.close()
