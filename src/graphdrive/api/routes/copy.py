"""``POST …/items/{id}/copy``: the long-running copy (202 Accepted + monitor Location)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, StrictBool, field_validator

from graphdrive.api.deps import address, container, monitor_url, principal
from graphdrive.api.routes.items import GraphBody, ItemReference, parse_reference_path
from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.service.operations import CopyRequest

router = APIRouter(tags=["long-running actions"])


class CopyBody(GraphBody):
    parent_reference: ItemReference | None = Field(default=None, alias="parentReference")
    name: str | None = None
    children_only: StrictBool = Field(default=False, alias="childrenOnly")

    @field_validator("name", mode="before")
    @classmethod
    def _empty_name(cls, value: object) -> object:
        return None if value == "" else value


@router.post(
    "/items/{item_id}/copy",
    status_code=202,
    summary="Copy an item (long-running): 202 + Location of a monitor URL",
    response_class=Response,
)
async def copy_item(
    request: Request,
    item_id: str,
    body: CopyBody | None = None,
    who: Principal = Depends(principal),
) -> Response:
    body = body or CopyBody()
    ref = body.parent_reference
    conflict = ConflictBehavior.parse(
        request.query_params.get("@microsoft.graph.conflictBehavior"), ConflictBehavior.FAIL
    )
    copy = CopyRequest(
        dest_drive=ref.drive_id if ref else None,
        dest_id=ref.id if ref else None,
        dest_path=parse_reference_path(ref.path) if ref and ref.path and not ref.id else None,
        name=body.name,
        children_only=body.children_only,
        conflict=conflict,
    )
    token = await container(request).operations.start_copy(
        who,
        address(request, item_id),
        copy,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    return Response(status_code=202, headers={"Location": monitor_url(request, token)})
