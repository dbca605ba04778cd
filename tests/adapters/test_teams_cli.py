"""The Teams pieces of the command line: the app package, and refusing unauthenticated Teams in production."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

PARLEY = Path(sys.executable).with_name("parley")


def test_teams_package_command(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    done = subprocess.run([str(PARLEY), "teams", "package", "--app-id", "11111111-2222-3333-4444-555555555555",
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    names = set(zipfile.ZipFile(out).namelist())
    assert names == {"manifest.json", "color.png", "outline.png", "cy.json"}  # with the Welsh localisation
    assert "11111111-2222-3333-4444-555555555555" in zipfile.ZipFile(out).read("manifest.json").decode()
    bad = subprocess.run([str(PARLEY), "teams", "package", "--app-id", "not-a-guid", "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "GUID" in (bad.stderr + bad.stdout)


def test_serve_refuses_unauthenticated_teams_in_production(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(DATABASE_URL=db, PARLEY_TEAMS="local", PARLEY_PRODUCTION="true")
    subprocess.run([str(PARLEY), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    done = subprocess.run([str(PARLEY), "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "refusing to accept unauthenticated Teams traffic" in done.stderr
