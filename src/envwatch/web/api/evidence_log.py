"""REST API of the evidence log (存证日志): checkpoints, the signing key, proofs and entries.

Public, like a Certificate Transparency log (no account: a court, an enterprise or an auditor must be able
to check what the platform signed without being its user): ``GET /checkpoints`` (newest first, paged),
``/checkpoints/latest``, ``/key`` (the C2SP vkey and the Ed25519 public key as PEM), ``/proofs/inclusion``
and ``/proofs/consistency``. They reveal only hashes, sizes and signatures, never an entry's content.

Entries are not public: their bodies copy rows of many tenants (a custody event, a mark, an O&M record), so
``GET /entries?ref=`` and ``/entries/{id}`` answer admin and regulator accounts only (403 for every other
role). ``/entries/{id}`` carries its leaf and an inclusion proof against the latest checkpoint, everything
a third party needs with the vkey (docs/evidence/log.md, "Checking a proof").

``POST /checkpoints`` (write kind ``evidence_admin``) integrates pending entries and signs a checkpoint now,
instead of waiting for the checkpoint loop: 201 with the new one, 200 with the latest when the tree did not
grow. Hashes travel as lowercase hex.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.evidence import keys
from envwatch.evidence import log as evidence_log
from envwatch.evidence.loops import integrate_round, request_timestamps
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])

# Entries copy the rows of every tenant (and raw packet batches), so only the admin reads them here; a
# regulator inspects the entries of the samples and videos it sees on the /evidence page (scope-checked).
ENTRY_READERS: Final = frozenset({"admin"})


def _require_entry_reader(scope: Scope) -> None:
    if scope.role not in ENTRY_READERS:
        raise HTTPException(
            403,
            f"role {scope.role} may not read evidence entries: they copy records of every tenant (admin only; "
            "a regulator looks up its samples and videos on the /evidence page); checkpoints, proofs and the "
            "key are public",
        )


def _checkpoint_out(point: dict[str, Any]) -> dict[str, Any]:
    return jsonable(point)


@router.get("/checkpoints", summary="Signed checkpoints, newest first (public)")
def list_checkpoints(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        total = evidence_log.checkpoint_count(conn)
        page = evidence_log.checkpoints(conn, limit=limit, offset=offset)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "checkpoints": [_checkpoint_out(p) for p in page],
    }


@router.get("/checkpoints/latest", summary="The newest signed checkpoint (public)")
def latest_checkpoint(request: Request, response: Response) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        point = evidence_log.latest_checkpoint(conn)
    if point is None:
        raise NotFound("the evidence log has no checkpoint yet: one is signed once entries were integrated")
    response.headers["Cache-Control"] = "no-store"
    return _checkpoint_out(point)


@router.post("/checkpoints", summary="Integrate pending entries and sign a checkpoint now (admin)")
def make_checkpoint(request: Request, response: Response, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("evidence_admin")
    engine, settings = engine_of(request), settings_of(request)
    integrated = integrate_round(engine, sweep=True)
    with engine.begin() as conn:
        made = evidence_log.make_checkpoint(conn, settings, utcnow())
    if made is not None:
        request_timestamps(engine, settings, made["id"])  # optional RFC 3161 stamp, after the commit
        response.status_code = 201
        point: dict[str, Any] | None = made
    else:
        with engine.connect() as conn:
            point = evidence_log.latest_checkpoint(conn)
    return {
        "created": made is not None,
        "integrated": (integrated or {}).get("integrated", 0),
        "checkpoint": None if point is None else _checkpoint_out(point),
    }


@router.get("/key", summary="The checkpoint signing key: C2SP vkey and Ed25519 public key (public)")
def signing_key(request: Request) -> dict[str, Any]:
    settings = settings_of(request)
    vkey = keys.public_vkey(settings)
    return {
        "origin": settings.evidence_origin,
        "algorithm": "Ed25519",
        "vkey": vkey,
        "key_name": "+".join(vkey.split("+", 2)[:2]),  # name+keyid (the base64 key may contain '+')
        "public_key_pem": keys.public_pem(settings),
    }


@router.get("/proofs/inclusion", summary="Inclusion proof of a leaf in a tree size (public)")
def inclusion_proof(
    request: Request,
    leaf_index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        proof = evidence_log.inclusion(conn, leaf_index, tree_size)
        leaf = evidence_log.leaf_at(conn, leaf_index)
        root = evidence_log.root_at(conn, tree_size)
        point = evidence_log.checkpoint_at(conn, tree_size)
    assert leaf is not None  # inclusion() checked leaf_index < tree_size <= the log's size
    return {
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "leaf_hash": leaf["leaf_hash"],
        "root_hash": root.hex(),
        "proof": [p.hex() for p in proof],
        "checkpoint": None if point is None else _checkpoint_out(point),
    }


@router.get("/proofs/consistency", summary="Consistency proof between two tree sizes (public)")
def consistency_proof(
    request: Request,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int, Query(ge=0)],
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        proof = evidence_log.consistency(conn, first, second)
        first_root, second_root = evidence_log.root_at(conn, first), evidence_log.root_at(conn, second)
    return {
        "first": first,
        "second": second,
        "first_root": first_root.hex(),
        "second_root": second_root.hex(),
        "proof": [p.hex() for p in proof],
    }


def _entry_out(found: dict[str, Any]) -> dict[str, Any]:
    return jsonable(found)


@router.get("/entries", summary="Evidence entries about one ref, e.g. custody_events/17 (admin, regulator)")
def entries(
    request: Request, scope: CurrentScope, ref: Annotated[str, Query(min_length=1, max_length=200)]
) -> dict[str, Any]:
    _require_entry_reader(scope)
    with engine_of(request).connect() as conn:
        found = evidence_log.entries_for_ref(conn, ref)
    return {"ref": ref, "entries": [_entry_out(e) for e in found]}


@router.get(
    "/entries/{entry_id}", summary="One entry with its leaf and an inclusion proof (admin, regulator)"
)
def entry(request: Request, scope: CurrentScope, entry_id: int) -> dict[str, Any]:
    _require_entry_reader(scope)
    with engine_of(request).connect() as conn:
        found = evidence_log.entry(conn, entry_id)
        if found is None:
            raise NotFound(f"evidence entry {entry_id} does not exist")
        point = evidence_log.latest_checkpoint(conn)
        proof = None
        index = found["leaf_index"]
        if index is not None and point is not None and index < point["tree_size"]:
            hashes = evidence_log.inclusion(conn, index, point["tree_size"])
            proof = {
                "leaf_index": index,
                "tree_size": point["tree_size"],
                "hashes": [h.hex() for h in hashes],
                "checkpoint": _checkpoint_out(point),
            }
    out = _entry_out(found)
    # None while the entry waits for its leaf or for the next checkpoint to cover it
    out["inclusion"] = proof
    return out
