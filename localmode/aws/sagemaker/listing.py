"""What the List* operations share: NameContains, SortBy, SortOrder, MaxResults and NextToken."""

from __future__ import annotations

from typing import Any


def paginate(
    items: list[dict[str, Any]], params: dict[str, Any], name_key: str, status_key: str = ""
) -> tuple[list, str | None]:
    """One page of the items as the request asks (SortBy is Name | CreationTime | Status), and the
    NextToken of the next page, if any."""
    if params.get("NameContains"):
        items = [item for item in items if params["NameContains"] in item[name_key]]
    key = {"Name": name_key, "Status": status_key or "CreationTime"}.get(
        params.get("SortBy", ""), "CreationTime"
    )
    items = sorted(
        items,
        key=lambda item: item.get(key) or "",
        reverse=params.get("SortOrder", "Descending") == "Descending",
    )
    start = int(params.get("NextToken") or 0)
    size = params.get("MaxResults", 10)
    following = start + size
    return items[start:following], (str(following) if following < len(items) else None)


def with_next_token(result: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        result["NextToken"] = token
    return result
