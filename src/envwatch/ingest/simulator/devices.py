"""Simulated data loggers (数采仪): identity and credentials, and a deterministic demo fleet."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["SimDevice", "demo_devices"]

_ST = {"gas": "31", "water": "32"}  # HJ 212 Table 5: 31 flue-gas source, 32 surface-water source


@dataclass(frozen=True)
class SimDevice:
    """One simulated logger. ``st`` defaults from ``kind`` (gas "31", water "32")."""

    mn: str
    pw: str
    kind: Literal["gas", "water"]
    protocol: Literal["2017", "2025"]
    sm4_key: bytes | None = None
    st: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _ST:
            raise ValueError(f"kind must be 'gas' or 'water', got {self.kind!r}")
        if self.protocol not in ("2017", "2025"):
            raise ValueError(f"protocol must be '2017' or '2025', got {self.protocol!r}")
        if self.sm4_key is not None and len(self.sm4_key) != 16:
            raise ValueError(f"an SM4 key is 16 bytes, got {len(self.sm4_key)}")
        if not self.mn or any(c in self.mn for c in ";=&\r\n"):
            raise ValueError(f"MN {self.mn!r} is empty or contains ; = & CR LF")
        if not self.st:
            object.__setattr__(self, "st", _ST[self.kind])


def demo_devices(n: int, protocol: str, seed: int = 0) -> list[SimDevice]:
    """``n`` loggers alternating gas/water with stable MNs; 2025 ones get their own SM4 key.

    MNs are 24 hex characters laid out like an EPC-96 (header 8 bits, manufacturer 28, class 24,
    serial 36); the same ``seed`` always gives the same fleet, so a demo registry can be seeded
    from the same call.
    """
    if protocol not in ("2017", "2025"):
        raise ValueError(f"protocol must be '2017' or '2025', got {protocol!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    version: Literal["2017", "2025"] = "2025" if protocol == "2025" else "2017"
    rng = random.Random(f"envwatch-sim-{seed}")
    manufacturer = rng.getrandbits(28)
    first_serial = rng.getrandbits(30)
    devices: list[SimDevice] = []
    for i in range(n):
        kind: Literal["gas", "water"] = "gas" if i % 2 == 0 else "water"
        device_class = 0x000031 if kind == "gas" else 0x000032
        mn = f"01{manufacturer:07X}{device_class:06X}{first_serial + i:09X}"
        pw = f"{rng.randrange(1_000_000):06d}"
        # HJ 212-2025 §6.4.3 forbids fixed or patterned keys: each device draws its own.
        key = rng.getrandbits(128).to_bytes(16, "big") if version == "2025" else None
        devices.append(SimDevice(mn=mn, pw=pw, kind=kind, protocol=version, sm4_key=key))
    return devices
