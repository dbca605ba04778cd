"""``parley teams package``: the Teams app package to upload (adapters/teams/package.py: no bot, no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from adapters.cli_base import fail
from adapters.teams.package import Options, build_package

teams_app = typer.Typer(help="Microsoft Teams app package.", no_args_is_help=True)


@teams_app.command("package")
def teams_package(app_id: Annotated[str, typer.Option("--app-id", envvar="MICROSOFT_APP_ID",
                                                      help="The bot's Microsoft app id (a GUID)")],
                  out: Annotated[str, typer.Option("--out", help="Zip file to write")] = "parley-teams.zip",
                  version: Annotated[Optional[str], typer.Option(
                      "--version", help="The app's version, e.g. 1.2.0 (PARLEY_TEAMS_APP_VERSION; default 1.0.0)",
                  )] = None,
                  website: Annotated[Optional[str], typer.Option(
                      "--website", help="https:// address of the board's page about Parley (PARLEY_TEAMS_WEBSITE)",
                  )] = None,
                  privacy_url: Annotated[Optional[str], typer.Option(
                      "--privacy-url", help="Privacy notice (PARLEY_TEAMS_PRIVACY_URL; default WEBSITE/privacy)",
                  )] = None,
                  terms_url: Annotated[Optional[str], typer.Option(
                      "--terms-url", help="Terms of use (PARLEY_TEAMS_TERMS_URL; default WEBSITE/terms)",
                  )] = None,
                  domain: Annotated[Optional[str], typer.Option(
                      "--domain", help="Parley's host name (PARLEY_TEAMS_DOMAIN; default PARLEY_PUBLIC_URL's)",
                  )] = None,
                  ) -> None:
    """Build the uploadable Teams app package: the manifest filled in (app id, version, the board's addresses),
    the two icons and the Welsh localisation. Nothing to edit by hand."""
    try:
        options = Options.given(version=version, website=website, privacy_url=privacy_url, terms_url=terms_url,
                                domain=domain)
        path = build_package(app_id, Path(out), options=options)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"Wrote {path} (version {options.version}, {options.domain})")
