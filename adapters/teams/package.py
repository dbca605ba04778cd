"""The Teams app package: ``manifest/teams/manifest.json`` (a template with ``{{MICROSOFT_APP_ID}}``) with the
bot's Microsoft App ID filled in, checked against the official manifest schema, zipped with its two icons.

Used by ``parley teams package --app-id GUID --out parley-teams.zip``; independent of the bot (standard
library and jsonschema only), so it runs without a database or credentials.

Schema notes (``../shared/schemas/README.md``): every Teams manifest schema declares draft-04 but pins
``manifestVersion`` with ``const`` (draft 6+; v1.27+ also use ``if``/``then``), so manifests are validated with
``Draft7Validator``; ``validator_for`` would pick Draft4Validator and silently ignore ``const``. The validator
is built directly, without ``check_schema()``: from v1.23 the schemas hold a ``\\p{L}`` pattern (Office add-in
custom functions only) that Python's ``re`` cannot compile.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = ROOT / "manifest" / "teams"
PLACEHOLDER = "{{MICROSOFT_APP_ID}}"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same inputs give the same zip


def schemas_dir() -> Path | None:
    """The reference schemas: ``../shared/schemas`` beside the repository, else under ``$PARLEY_SHARED_DIR``
    (the shared folder itself or its ``schemas`` subfolder). None when neither exists."""
    candidates = [ROOT.parent / "shared" / "schemas"]
    env = os.environ.get("PARLEY_SHARED_DIR", "")
    if env:
        candidates += [Path(env) / "schemas", Path(env)]
    return next((c for c in candidates if c.is_dir() and any(c.glob("*.schema.json"))), None)


def manifest_schema(version: str) -> Path | None:
    folder = schemas_dir()
    path = folder / f"teams-manifest-v{version}.schema.json" if folder else None
    return path if path is not None and path.is_file() else None


def newest_manifest_schema() -> tuple[tuple[int, int], Path] | None:
    """The newest ``teams-manifest-vX.Y.schema.json`` in the reference schemas, with its version."""
    folder = schemas_dir()
    found = {}
    for path in folder.glob("teams-manifest-v*.schema.json") if folder else []:
        m = re.fullmatch(r"teams-manifest-v(\d+)\.(\d+)\.schema\.json", path.name)
        if m:
            found[(int(m.group(1)), int(m.group(2)))] = path
    return max(found.items()) if found else None


def manifest_errors(manifest: dict, schema_path: Path) -> list[str]:
    """Problems with a manifest against a Teams manifest schema (empty = valid); Draft7Validator on purpose."""
    from jsonschema import Draft7Validator

    schema = json.loads(schema_path.read_text("utf-8"))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(manifest)'}: {e.message}"
            for e in Draft7Validator(schema).iter_errors(manifest)]


def check_app_id(app_id: str) -> str:
    app_id = (app_id or "").strip()
    if not GUID.fullmatch(app_id):
        raise ValueError(f"the Microsoft App ID must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), not {app_id!r}")
    return app_id


def render_manifest(app_id: str, manifest_dir: Path = MANIFEST_DIR) -> dict:
    """The manifest template with the app id filled in (not yet checked against the schema)."""
    app_id = check_app_id(app_id)
    text = (manifest_dir / "manifest.json").read_text("utf-8").replace(PLACEHOLDER, app_id)
    if "{{" in text:
        raise ValueError(f"the manifest still has a placeholder: {text[text.index('{{'):][:40]}")
    return json.loads(text)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def check_manifest(manifest: dict, app_id: str) -> None:
    """Raise ValueError unless the manifest is valid for its manifestVersion and names this app id."""
    if manifest.get("id") != app_id or any(b.get("botId") != app_id for b in manifest.get("bots", [])):
        raise ValueError("the manifest's id and botId must both be the app id")
    version = str(manifest.get("manifestVersion", ""))
    schema = manifest_schema(version)
    if schema is None:
        if schemas_dir() is None:
            warnings.warn("the Teams manifest schemas were not found (../shared/schemas or $PARLEY_SHARED_DIR): "
                          "the manifest was not checked against the schema", stacklevel=3)
            return
        raise ValueError(f"no Teams manifest schema for manifestVersion {version!r}")
    problems = manifest_errors(manifest, schema)
    if problems:
        raise ValueError("the Teams manifest is not valid:\n  " + "\n  ".join(problems))


def build_package(app_id: str, out: Path, *, manifest_dir: Path = MANIFEST_DIR) -> Path:
    """Write the Teams app package (a zip of manifest.json, color.png and outline.png at its root) to ``out``
    (a directory gets ``parley-teams.zip`` inside it) and return its path. Raises ValueError for an app id that
    is not a GUID, a manifest that fails the schema, or icons of the wrong size."""
    app_id = check_app_id(app_id)
    manifest = render_manifest(app_id, manifest_dir)
    check_manifest(manifest, app_id)
    icons = {}
    for key, name in (("color", "color.png"), ("outline", "outline.png")):
        if manifest.get("icons", {}).get(key) != name:
            raise ValueError(f"icons.{key} must be {name!r}")
        data = (manifest_dir / name).read_bytes()
        if png_size(data) != ICONS[name]:
            raise ValueError(f"{name} is {png_size(data)}, Teams needs {ICONS[name]}")
        icons[name] = data

    out = Path(out)
    if out.is_dir():
        out = out / "parley-teams.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    files = {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), **icons}
    fd, tmp = tempfile.mkstemp(prefix=".parley-teams-", suffix=".zip", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
