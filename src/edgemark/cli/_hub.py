"""CLI verbs of the hub: ``hub serve|upload|migrate|token|audit``; registers ``rollout`` and
``nodes`` (cli/_fleet.py).

Admin verbs are thin over ``edgemark.hub.AdminClient``; the admin token comes from
EDGEMARK_ADMIN_TOKEN. FastAPI and friends are imported inside the commands (hub extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgemark.cli._fleet import AsJson, admin_client, nodes_app, rollout_app, when
from edgemark.cli._output import DEFAULT_HUB, HubUrl, console, handled_errors, print_json

DbUrl = Annotated[str | None, typer.Option("--db", help="Database URL (env EDGEMARK_HUB_DB).")]


def _hub_app() -> typer.Typer:
    hub = typer.Typer(help="Run the hub and push bundles to it.", no_args_is_help=True)

    @hub.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8000,
        db: DbUrl = None,
        bundles: Annotated[
            Path | None, typer.Option(help="Bundle directory (env EDGEMARK_HUB_BUNDLES).")
        ] = None,
        port_file: Annotated[
            Path | None, typer.Option(help="Write the bound port to this file.")
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the hub API (admin token from EDGEMARK_ADMIN_TOKEN) until Ctrl-C/SIGTERM."""
        from edgemark._extras import require

        with handled_errors():
            require("uvicorn", "hub")
            from edgemark.hub import HubSettings
            from edgemark.hub import serve as serve_hub

            overrides = {
                "EDGEMARK_HUB_DB": db,
                "EDGEMARK_HUB_BUNDLES": str(bundles) if bundles else None,
            }
            settings = HubSettings.from_env(overrides)
            from edgemark.observe import setup_process

            setup_process("edgemark-hub", secrets=(settings.admin_token.reveal(),))
            serve_hub(settings, host=host, port=port, port_file=port_file, log_level=log_level)

    @hub.command("upload")
    def upload(
        bundle: Annotated[Path, typer.Argument(help="Bundle .tar.gz (from `bundle pack`).")],
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Upload a packed bundle to the hub's registry."""
        with handled_errors():
            with admin_client(hub_url) as client:
                result = client.upload_bundle(bundle.read_bytes())
            if as_json:
                print_json(result)
            else:
                console.print(f"uploaded {result['version']} sha256 {result['sha256'][:16]}…")

    @hub.command("migrate")
    def migrate(db: DbUrl = None) -> None:
        """Upgrade the hub database to the newest schema (the hub also does this on start)."""
        from edgemark._extras import require

        with handled_errors():
            require("alembic", "hub")
            from edgemark.hub import upgrade_database
            from edgemark.hub._db import create_engine_for
            from edgemark.hub._migrate import current_revision

            engine = create_engine_for(_database_url(db))
            try:
                upgrade_database(engine)
                console.print(f"hub database at revision {current_revision(engine)}")
            finally:
                engine.dispose()

    hub.add_typer(_token_app(), name="token")
    hub.add_typer(_audit_app(), name="audit")
    return hub


def _database_url(db: str | None) -> str:
    import os

    return db or os.environ.get("EDGEMARK_HUB_DB") or "sqlite:///hub.db"


def _token_app() -> typer.Typer:
    token = typer.Typer(help="Scoped admin tokens (read, deploy, admin).", no_args_is_help=True)

    @token.command("create")
    def create(
        name: Annotated[str, typer.Argument(help="Who or what the token is for, e.g. ci.")],
        scope: Annotated[str, typer.Option(help="read, deploy or admin.")] = "read",
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Create a scoped admin token; the token is printed once and never stored."""
        with handled_errors():
            with admin_client(hub_url) as client:
                result = client.create_admin_token(name, scope)
            if as_json:
                print_json(result)
            else:
                console.print(f"token {result['id']} ({result['scope']}) for {name}:")
                typer.echo(result["token"])

    @token.command("list")
    def list_tokens(hub_url: HubUrl = DEFAULT_HUB, as_json: AsJson = False) -> None:
        """List admin tokens (never their values)."""
        with handled_errors():
            with admin_client(hub_url) as client:
                tokens = client.admin_tokens()["tokens"]
            if as_json:
                print_json({"tokens": tokens})
                return
            table = Table("id", "name", "scope", "created", "by", "revoked")
            for t in tokens:
                table.add_row(t["id"], t["name"], t["scope"], when(t["created_at"]),
                              t["created_by"], when(t["revoked_at"]))  # fmt: skip
            console.print(table if tokens else "no admin tokens yet")

    @token.command("revoke")
    def revoke(
        token_id: Annotated[str, typer.Argument(help="Token id (see `hub token list`).")],
        hub_url: HubUrl = DEFAULT_HUB,
    ) -> None:
        """Revoke an admin token: it is refused at once."""
        with handled_errors():
            with admin_client(hub_url) as client:
                client.revoke_admin_token(token_id)
            console.print(f"token {token_id} revoked")

    return token


def _audit_app() -> typer.Typer:
    audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

    @audit.command("verify")
    def verify(
        db: Annotated[
            str | None,
            typer.Option("--db", help="Verify this database directly instead of asking a hub."),
        ] = None,
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Check every entry's hash and link; exit 1 and say where if one was edited or deleted."""
        from edgemark._extras import require

        with handled_errors():
            require("sqlalchemy", "hub")
            from edgemark.hub import verify_audit_chain, verify_audit_database

            if db is not None:
                verdict = verify_audit_database(db)
            else:  # fetch over the API and check here: do not trust the hub's own verdict
                with admin_client(hub_url) as client:
                    verdict = verify_audit_chain(*client.audit_entries())
            if as_json:
                print_json(verdict.to_json())
            elif verdict.ok:
                console.print(f"audit log intact: {verdict.entries} entries")
            else:
                console.print(f"[bold red]audit log broken at entry {verdict.seq}:[/] "
                              f"{verdict.problem}")  # fmt: skip
            if not verdict.ok:
                raise typer.Exit(1)

    return audit


def register(app: typer.Typer) -> None:
    """Add the ``hub``, ``rollout`` and ``nodes`` commands to ``app``."""
    app.add_typer(_hub_app(), name="hub")
    app.add_typer(rollout_app(), name="rollout")
    app.add_typer(nodes_app(), name="nodes")
