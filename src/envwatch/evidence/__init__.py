"""Evidence (证据): the tamper-evident log over every piece of evidence, the video archive and their checks.

See ``docs/evidence.md``: an RFC 9162 Merkle tree over ``evidence_entries``, signed checkpoints, inclusion
and consistency proofs, offline-checkable bundles, video records (WZ-A1) and the checks the rules ask for.
"""
