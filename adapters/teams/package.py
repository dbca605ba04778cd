"""The Teams app package: ``manifest/teams/manifest.json`` (a template with ``{{MICROSOFT_APP_ID}}``, the
version, the developer's web, privacy and terms addresses and the domain as placeholders) filled in, checked
against the official manifest schema, zipped with its two icons and its Welsh localisation (``cy.json``).

Used by ``parley teams package --app-id GUID --version 1.2.0 --website https://... --privacy-url ...
--terms-url ... --domain ... --out parley-teams.zip`` (each option also read from the environment: see
:class:`Options`), so no file is edited by hand; independent of the bot (standard library and jsonschema only),
so it runs without a database or credentials.

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
import urllib.parse
import warnings
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = ROOT / "manifest" / "teams"
PLACEHOLDER = "{{MICROSOFT_APP_ID}}"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same inputs give the same zip
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](-*[a-z0-9])*)(\.[a-z0-9](-*[a-z0-9])*)+$", re.IGNORECASE)
EXAMPLE = "parley.example.org"  # the template's stand-in: refused under PARLEY_PRODUCTION


@dataclass(frozen=True)
class Options:
    """What a board fills in for its own package; each from its option, else its environment variable."""

    version: str = "1.0.0"  # PARLEY_TEAMS_APP_VERSION: raise it for every upload Teams should take as an update
    website: str = f"https://{EXAMPLE}"  # PARLEY_TEAMS_WEBSITE
    privacy_url: str = ""  # PARLEY_TEAMS_PRIVACY_URL; default: the website's /privacy
    terms_url: str = ""  # PARLEY_TEAMS_TERMS_URL; default: the website's /terms
    domain: str = ""  # PARLEY_TEAMS_DOMAIN; default: PARLEY_PUBLIC_URL's host, else the website's

    ENV = {"version": "PARLEY_TEAMS_APP_VERSION", "website": "PARLEY_TEAMS_WEBSITE",
           "privacy_url": "PARLEY_TEAMS_PRIVACY_URL", "terms_url": "PARLEY_TEAMS_TERMS_URL",
           "domain": "PARLEY_TEAMS_DOMAIN"}

    @classmethod
    def given(cls, env: dict[str, str] | None = None, **given: str | None) -> Options:
        env = dict(os.environ) if env is None else env
        values = {k: (given.get(k) or env.get(var, "")).strip() for k, var in cls.ENV.items()}
        o = cls(**{k: v for k, v in values.items() if v})
        website = o.website.rstrip("/")
        public = urllib.parse.urlparse(env.get("PARLEY_PUBLIC_URL", "")).hostname
        return replace(o, website=website, privacy_url=o.privacy_url or f"{website}/privacy",
                       terms_url=o.terms_url or f"{website}/terms",
                       domain=o.domain or public or urllib.parse.urlparse(website).hostname or "")

    def check(self, production: bool = False) -> None:
        if not SEMVER.fullmatch(self.version):
            raise ValueError(f"the version must be like 1.2.0 (three numbers), not {self.version!r}")
        for name in ("website", "privacy_url", "terms_url"):
            url = urllib.parse.urlparse(getattr(self, name))
            if url.scheme != "https" or not url.hostname:
                raise ValueError(f"--{name.replace('_', '-')} must be an https:// address, not "
                                 f"{getattr(self, name)!r}")
        if not HOST.fullmatch(self.domain):
            raise ValueError(f"--domain must be a host name such as parley.board.gov.uk (no https://), not "
                             f"{self.domain!r}")
        if production and any(EXAMPLE in v for v in (self.website, self.privacy_url, self.terms_url, self.domain)):
            raise ValueError(f"PARLEY_PRODUCTION is set but the package would still name {EXAMPLE}: give "
                             "--website, --privacy-url, --terms-url and --domain (or their environment variables)")

    def placeholders(self) -> dict[str, str]:
        return {"{{VERSION}}": self.version, "{{WEBSITE}}": self.website, "{{PRIVACY_URL}}": self.privacy_url,
                "{{TERMS_URL}}": self.terms_url, "{{DOMAIN}}": self.domain}


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


def render_manifest(app_id: str, manifest_dir: Path = MANIFEST_DIR, options: Options | None = None) -> dict:
    """The manifest template with the app id and the options filled in (not yet checked against the schema)."""
    app_id = check_app_id(app_id)
    text = (manifest_dir / "manifest.json").read_text("utf-8").replace(PLACEHOLDER, app_id)
    for placeholder, value in (options or Options.given({})).placeholders().items():
        text = text.replace(placeholder, json.dumps(value)[1:-1])
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


LIMITS = {"name.short": 30, "name.full": 100, "description.short": 80, "description.full": 4000}


def localisations(manifest: dict, manifest_dir: Path) -> dict[str, bytes]:
    """The files ``localizationInfo`` names (Welsh: ``cy.json``), each checked: it exists, is JSON, keeps Teams'
    length limits, and translates the names, the descriptions and every command of the manifest."""
    out = {}
    for lang in manifest.get("localizationInfo", {}).get("additionalLanguages", []):
        path = manifest_dir / lang["file"]
        if not path.is_file():
            raise ValueError(f"the {lang['languageTag']} localisation {lang['file']} is missing")
        strings = json.loads(path.read_text("utf-8"))
        wanted = set(LIMITS)
        for b, bot in enumerate(manifest.get("bots", [])):
            for c, commands in enumerate(bot.get("commandLists", [])):
                for n, _ in enumerate(commands.get("commands", [])):
                    wanted |= {f"bots[{b}].commandLists[{c}].commands[{n}].{f}" for f in ("title", "description")}
        missing = sorted(wanted - set(strings))
        unknown = sorted(set(strings) - wanted - {"$schema"})
        if missing or unknown:
            raise ValueError(f"{lang['file']}: " + "; ".join(
                ([f"not translated: {', '.join(missing)}"] if missing else [])
                + ([f"not in the manifest: {', '.join(unknown)}"] if unknown else [])))
        for key, limit in LIMITS.items():
            if len(strings[key]) > limit:
                raise ValueError(f"{lang['file']}: {key} is {len(strings[key])} characters; Teams allows {limit}")
        out[lang["file"]] = (json.dumps(strings, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return out


def build_package(app_id: str, out: Path, *, manifest_dir: Path = MANIFEST_DIR, options: Options | None = None,
                  production: bool | None = None) -> Path:
    """Write the Teams app package (a zip of manifest.json, color.png, outline.png and the localisation files at
    its root) to ``out`` (a directory gets ``parley-teams.zip`` inside it) and return its path. Raises ValueError
    for an app id that is not a GUID, options that are not valid (or still the template's under
    PARLEY_PRODUCTION), a manifest that fails the schema, a localisation that is incomplete, or icons of the
    wrong size."""
    app_id = check_app_id(app_id)
    options = options or Options.given()
    if production is None:
        production = os.environ.get("PARLEY_PRODUCTION", "").lower() in ("1", "true", "yes")
    options.check(production)
    manifest = render_manifest(app_id, manifest_dir, options)
    check_manifest(manifest, app_id)
    translated = localisations(manifest, manifest_dir)
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
    files = {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), **icons,
             **translated}
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
