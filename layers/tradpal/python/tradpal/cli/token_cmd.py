"""``tradpal token``: mint a development token from the local issuer under TRADPAL_HOME."""

from __future__ import annotations

from typing import Annotated

import typer

from tradpal.platform.catalog import SCOPES


def token(
    scope: Annotated[
        str,
        typer.Option("--scope", help=f"comma-separated scopes: {', '.join(SCOPES)}"),
    ] = "read",
    ttl: Annotated[int, typer.Option("--ttl", help="lifetime in seconds")] = 3600,
    subject: Annotated[str, typer.Option("--subject", help="the token's sub claim")] = "local-user",
) -> None:
    """Print a JWT for the local platform's API (send it as 'Authorization: Bearer <token>').

    The local issuer's key is created on first use and kept under TRADPAL_HOME, so the token
    works with a platform started before or after this command.
    """
    from tradpal.auth.issuer import LocalIssuer

    scopes = [s.strip() for s in scope.split(",") if s.strip()]
    issued = LocalIssuer.load_or_create().mint(scopes, ttl_s=ttl, subject=subject)
    # Plain stdout, one line: TOKEN=$(tradpal token --scope read) works.
    typer.echo(issued)
