"""Removing what the fuzz created through the API (so cache, snapshot and events follow), from a
fresh loopback address: later phases see the stack's data as it was."""

from __future__ import annotations

import urllib.parse

import httpx

from stagectl.loopback import fresh_loopback, source_headers


def remove_created(base_url: str, api_key: str, created: list[tuple[str, str]]) -> str | None:
    """DELETE each created inventory item; None when all are gone, else what is left."""
    left = []
    for kind, ident in created:
        if kind != "inventory":
            continue
        path = "/api/inventory/" + urllib.parse.quote(ident, safe="")
        source = fresh_loopback()
        transport = httpx.HTTPTransport(local_address=source)
        try:
            with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key, **source_headers(source)}, timeout=10,
                              transport=transport) as client:
                status = client.delete(path).status_code
        except httpx.HTTPError as exc:
            left.append(f"{ident} ({type(exc).__name__})")
            continue
        if status not in (204, 404):  # 404: a later fuzz case already deleted it
            left.append(f"{ident} (HTTP {status})")
    return f"{len(left)} fuzz-created items could not be removed: {', '.join(left[:5])}" if left else None
