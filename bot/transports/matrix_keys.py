"""The bot device's keys: one-time keys kept topped up, a fallback key, fresh Olm sessions.

A mixin of :class:`bot.transports.matrix.MatrixTransport`. Clients that open a DM claim one
of the bot device's one-time keys to start an Olm session; without one they cannot send the
bot their room key and the bot cannot read them. So:

* the server's count of the device's one-time keys comes with every sync; when it falls
  below half of the maximum, new ones are uploaded (matrix-nio itself does not notice a
  count of zero, which is exactly when it matters);
* a fallback key is published once (matrix-nio 0.26 does not, vodozemac can make one), so
  a burst of new participants that claims every one-time key still finds a key;
* when a participant's event cannot be decrypted and the bot has no Olm session with the
  sending device, the device is marked "wedged": nio claims one of its keys, starts a
  session and sends it an ``m.dummy`` message, so its next room key reaches the bot.

The undecryptable-event counters (waiting, recovered, given up, asked to resend) are logged
at INFO without identities and published as an operator status line.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from nio import Api, KeysUploadResponse, MegolmEvent, SyncResponse
from nio.exceptions import LocalProtocolError

if TYPE_CHECKING:
    from nio import AsyncClient

    from bot.transports.matrix_state import MatrixState

log = logging.getLogger("bot.transports.matrix")
STATUS_KEY = "status.matrix.undecryptable"


class MatrixKeys:
    user_id: str
    client: "AsyncClient | None"
    state: "MatrixState"
    publish_status: Callable[[str, str], None] | None
    _last_counts: tuple[int, ...] | None = None

    def _note_key_counts(self, resp: SyncResponse) -> None:
        """nio ignores a reported count of 0; the bot must not (it is when keys ran out)."""
        client = self.client
        count = getattr(resp.device_key_count, "signed_curve25519", None)
        if client is not None and client.olm is not None and count is not None:
            client.olm.uploaded_key_count = count

    async def _top_up_keys(self) -> None:
        client = self.client
        if client is None or client.olm is None:
            return
        olm = client.olm
        count = olm.uploaded_key_count
        need_keys = not olm.account.shared or (count is not None and count < olm.account.max_one_time_keys // 2)
        need_fallback = not self.state.fallback_published
        if not need_keys and not need_fallback:
            return
        if olm.account.shared and count is None:
            return                    # the count comes with the next sync; never guess it
        content: dict[str, Any] = olm.share_keys() if need_keys else {}
        if need_fallback:
            content["fallback_keys"] = self._fallback_key()
        method, path, data = Api.keys_upload(client.access_token, content)
        resp = await client._send(KeysUploadResponse, method, path, data)
        if not isinstance(resp, KeysUploadResponse):
            log.warning("matrix: uploading keys failed (%s); retrying after the next sync",
                        getattr(resp, "status_code", None))
            return
        if need_fallback:
            self.state.fallback_published = True
            log.info("matrix: published a fallback key")
        if need_keys:
            log.info("matrix: uploaded one-time keys (the server now holds %s)", resp.signed_curve25519_count)

    def _fallback_key(self) -> dict[str, Any]:
        client = self.client
        assert client is not None and client.olm is not None
        olm = client.olm
        account = olm.account._account           # vodozemac.Account: nio 0.26 has no API for it
        account.generate_fallback_key()
        keys: dict[str, Any] = {}
        for key_id, key in account.fallback_key.items():
            signed: dict[str, Any] = {"key": key.to_base64(), "fallback": True}
            signature = olm.sign_json(signed)
            signed["signatures"] = {self.user_id: {f"ed25519:{client.device_id}": signature}}
            keys[f"signed_curve25519:{key_id}"] = signed
        return keys

    def _unwedge(self, ev: MegolmEvent) -> None:
        """No Olm session with the device that sent this: let nio start one (with m.dummy)."""
        client = self.client
        assert client is not None and client.olm is not None
        olm = client.olm
        if olm.session_store.get(ev.sender_key) is not None:
            return
        for device in olm.device_store.active_user_devices(ev.sender):
            if device.curve25519 == ev.sender_key and device not in olm.wedged_devices:
                olm.wedged_devices.append(device)
                log.info("matrix: starting a new Olm session with a participant's device")

    async def _claim_for_wedged(self) -> None:
        client = self.client
        assert client is not None
        try:
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
        except LocalProtocolError:
            pass      # nothing to claim any more: another round did it

    # ------------------------------------------------------------- counters
    def decryption_counts(self) -> dict[str, int]:
        """Undecryptable events: waiting, recovered, given_up, asked_to_resend (no identities).

        For the operator's ``status``; the same line is kept in ``app_state`` under
        ``status.matrix.undecryptable`` whenever it changes.
        """
        return self.state.decryption_counts()

    def _report_counts(self) -> None:
        counts = self.decryption_counts()
        current = tuple(counts.values())
        if current == self._last_counts:
            return
        first = self._last_counts is None
        self._last_counts = current
        line = (f"waiting {counts['waiting']}, recovered {counts['recovered']}, "
                f"given up {counts['given_up']}, asked to resend {counts['asked_to_resend']}")
        if not first or any(current):
            log.info("matrix: undecryptable events: %s", line)
        if self.publish_status is not None:
            try:
                self.publish_status(STATUS_KEY, line)
            except Exception as exc:      # the status line must never stop the sync loop
                log.warning("matrix: could not record the status line (%s)", exc.__class__.__name__)
