"""Route matching as API Gateway's HTTP API does it, over the catalog's routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from tradpal.platform.catalog import Catalog, Route


@dataclass(frozen=True)
class RouteMatch:
    """A matched route: its key (``"GET /v1/backtests/{id}"``), the capability serving it
    (None for the gateway's own routes), the catalog route and the path parameters."""

    key: str
    capability: str | None
    route: Route | None
    path_parameters: dict[str, str] = field(default_factory=dict)


class RouteTable:
    """The catalog's routes, matched as API Gateway does: segment by segment, a ``{param}``
    segment takes one non-empty segment, literal segments win over parameters, a path served
    under another method only is not a match (404, not 405)."""

    def __init__(self, catalog: Catalog) -> None:
        entries = []
        for key, (cap, route) in catalog.routes().items():
            segments = tuple(route.path.strip("/").split("/"))
            # Most literal segments first, so /v1/data/ingest beats /v1/data/{id}.
            rank = tuple(s.startswith("{") for s in segments)
            entries.append((rank, key, cap.name, route, segments))
        self._entries = sorted(entries, key=lambda e: (e[0], e[1]))

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The route serving ``method`` on ``raw_path`` (still percent-encoded), or None."""
        if not raw_path.startswith("/"):
            return None
        # No normalisation: "/v1/health/" is another path than "/v1/health".
        decoded = [unquote(p) for p in raw_path[1:].split("/")]
        for _rank, key, capability, route, segments in self._entries:
            if route.method != method or len(segments) != len(decoded):
                continue
            params: dict[str, str] = {}
            for want, got in zip(segments, decoded, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return RouteMatch(key, capability, route, params)
        return None
