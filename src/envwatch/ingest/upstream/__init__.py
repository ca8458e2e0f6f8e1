"""Upstream forwarding (数据转发, 市 → 省 → 部): packets this platform accepted, re-sent in HJ 212 to the
platforms above it.

The raw packet log is the queue: every accepted frame is already durably in ``raw_packets`` with ids
increasing, so the ingest hot path writes nothing more. Each upstream keeps a cursor (every raw packet id
up to it is handled) in ``upstream_status``; an outage leaves the cursor behind and back-fill is catching
up, at ``upstream_max_rate`` at most. docs/operations/upstream.md says what is forwarded and guaranteed.

Modules: :mod:`.schema` (tables), :mod:`.config` (registering upstreams, their history, their devices),
:mod:`.source` (reading the log after the cursor, waiting out id gaps), :mod:`.window` (the sans-I/O
in-flight window: acks, timeouts, the cursor), :mod:`.forwarder` (the asyncio task per upstream),
:mod:`.status` (figures for the CLI and the API).
"""
