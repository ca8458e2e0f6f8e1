"""The gateway's view of the registry: registered devices by MN, reloaded periodically.

Looking up the database for every packet would cost more than parsing it; the directory is a dict
swapped atomically after each reload (on a worker thread), so a lookup never blocks the event loop.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine

from envwatch.hj212 import CrcVariant, DevicePolicy
from envwatch.registry.store import DeviceRecord, load_devices, registry_version


class DeviceDirectory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_mn: dict[str, DeviceRecord] = {}
        self._policies: dict[str, DevicePolicy] = {}
        self._version: tuple[object, ...] | None = None

    def reload(self) -> int:
        """Blocking (call from a worker thread); returns how many devices are registered.

        Loads the devices only when the registry changed: building 1,000 records every few seconds held
        the interpreter lock long enough to delay the gateway's acknowledgements by ~100 ms.
        """
        version = registry_version(self.engine)
        if version == self._version:
            return len(self._by_mn)
        devices = load_devices(self.engine)
        policies = {mn: _policy(dev) for mn, dev in devices.items()}
        self._by_mn, self._policies, self._version = devices, policies, version
        return len(devices)

    def get(self, mn: str | None) -> DeviceRecord | None:
        return self._by_mn.get(mn) if mn is not None else None

    def policy_for(self, mn: str) -> DevicePolicy | None:
        return self._policies.get(mn)

    def set_key(self, mn: str, key: bytes) -> None:
        """Use a new SM4 key for ``mn`` at once (after a CN 1014 rotation was committed)."""
        device = self._by_mn.get(mn)
        if device is not None:
            updated = replace(device, sm4_key=key, previous_sm4_key=device.sm4_key)
            self._by_mn = {**self._by_mn, mn: updated}
            self._policies = {**self._policies, mn: _policy(updated)}

    def previous_key(self, mn: str | None) -> bytes | None:
        """The key before the latest rotation: still accepted (a logger may have missed the NewSK)."""
        device = self.get(mn)
        return device.previous_sm4_key if device is not None else None

    def __len__(self) -> int:
        return len(self._by_mn)


def _policy(device: DeviceRecord) -> DevicePolicy:
    variants = frozenset(CrcVariant(v) for v in device.crc_variants if v in CrcVariant._value2member_map_)
    return DevicePolicy(sm4_key=device.sm4_key, crc_variants=variants or frozenset({CrcVariant.STANDARD}))
