"""Sans-I/O HJ 212 (HJ/T 212-2005, HJ 212-2017, HJ 212-2025) protocol library.

Bytes in, events out; bytes out for replies and commands. No sockets, clocks, databases or
logging here, and nothing imported from the rest of envwatch: the gateway owns the I/O and passes
time in as ``now``.

Modules, one idea each:

* :mod:`.crc`        the HJ 212 CRC (not MODBUS) and the tolerated variants
* :mod:`.framing`    byte stream -> frames, garbage, oversize, truncation
* :mod:`.segment`    data segment <-> header / CP / factors
* :mod:`.sm4`        2025 SM4-ECB encryption of the CP area
* :mod:`.decode`     one frame -> :class:`Packet` or :class:`ProtocolError`
* :mod:`.reassembly` PNUM/PNO split messages -> :class:`MessageComplete`
* :mod:`.connection` :class:`Connection`: the above wired together, h11 style
* :mod:`.encode`     frames, replies (9011-9014), host commands, key update (1014)
* :mod:`.codes`      code tables loaded from ``data/*.json``
* :mod:`.cli_decode` ``decode_line`` for ``envwatch hj212 decode``

Lenient on receive (field order, missing QN/Flag, lower-case CRC, byte-counted lengths, a missing
CRLF when length and CRC prove the frame complete, per-device CRC variants), strict on send. See
docs/hj212.md.
"""

from envwatch.hj212 import codes
from envwatch.hj212.cli_decode import decode_line
from envwatch.hj212.connection import Connection, OutgoingPacket
from envwatch.hj212.crc import CrcVariant, crc16, crc16_modbus, crc_hex
from envwatch.hj212.decode import decode_frame
from envwatch.hj212.encode import (
    command,
    data_ack,
    encode,
    exe_rtn,
    key_update_reply,
    new_qn,
    notify_ack,
    qn_rtn,
    reply,
)
from envwatch.hj212.errors import ErrorKind, HJ212Error, ProtocolError
from envwatch.hj212.packet import (
    NEED_DATA,
    DevicePolicy,
    Event,
    MessageComplete,
    NeedData,
    Packet,
    Record,
)
from envwatch.hj212.segment import parse_segment
from envwatch.hj212.version import ProtocolVersion, flag_for

__all__ = [
    "NEED_DATA",
    "Connection",
    "CrcVariant",
    "DevicePolicy",
    "ErrorKind",
    "Event",
    "HJ212Error",
    "MessageComplete",
    "NeedData",
    "OutgoingPacket",
    "Packet",
    "ProtocolError",
    "ProtocolVersion",
    "Record",
    "codes",
    "command",
    "crc16",
    "crc16_modbus",
    "crc_hex",
    "data_ack",
    "decode_frame",
    "decode_line",
    "encode",
    "exe_rtn",
    "flag_for",
    "key_update_reply",
    "new_qn",
    "notify_ack",
    "parse_segment",
    "qn_rtn",
    "reply",
]
