"""The Teams app package: the manifest template is valid against the newest official manifest schema once the
app id is filled in; the icons have the sizes Teams needs, the outline one white on transparent only; and
build_package writes a zip with exactly the manifest and the two icons."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest
from jsonschema import Draft4Validator, Draft7Validator, validators

from adapters.teams.package import (
    MANIFEST_DIR,
    PLACEHOLDER,
    build_package,
    newest_manifest_schema,
    render_manifest,
    schemas_dir,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
APP_ID = "8f3c2b1a-4d5e-4f60-9a7b-0c1d2e3f4a5b"


def _require(what: str, problem: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {what}: {problem}")
    pytest.skip(problem)


def pil():
    try:
        from PIL import Image
    except ImportError:
        _require("Pillow is needed", "Pillow is not installed")
    return Image


def schema_path(version: str) -> Path:
    folder = schemas_dir()
    if folder is None:
        _require("the reference schemas are missing", "reference schemas not found (../shared/schemas or "
                 "PARLEY_SHARED_DIR)")
    path = folder / f"teams-manifest-v{version}.schema.json"
    assert path.is_file(), f"no schema for manifestVersion {version} in {folder}"
    return path


def template() -> dict:
    return json.loads((MANIFEST_DIR / "manifest.json").read_text("utf-8"))


def errors(manifest: dict, path: Path, cls: type = Draft7Validator) -> list[str]:
    # Draft7 on purpose: the schemas declare draft-04 but use const (and if/then from v1.27); no check_schema(),
    # as v1.23+ hold a \p{L} pattern Python's re cannot compile (../shared/schemas/README.md)
    schema = json.loads(path.read_text("utf-8"))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in cls(schema).iter_errors(manifest)]


def rgba_pixels(image) -> list[tuple[int, int, int, int]]:
    data = image.convert("RGBA").tobytes()
    return [tuple(data[i:i + 4]) for i in range(0, len(data), 4)]


# -- the manifest ---------------------------------------------------------------------------------------------
def test_manifest_targets_the_newest_schema_and_is_valid_with_a_guid() -> None:
    manifest = render_manifest(APP_ID)
    version = manifest["manifestVersion"]
    path = schema_path(version)
    newest = newest_manifest_schema()
    assert newest is not None and newest[1] == path, f"the manifest targets v{version}; the newest is {newest}"
    assert tuple(int(p) for p in version.split(".")) >= (1, 17)
    url = f"https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"
    assert manifest["$schema"] == url
    schema = json.loads(path.read_text("utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert validators.validator_for(schema) is Draft4Validator  # what auto-detection would (wrongly) use
    assert errors(manifest, path) == []


def test_the_template_has_placeholders_for_the_app_id_and_the_boards_own_details_only() -> None:
    text = (MANIFEST_DIR / "manifest.json").read_text("utf-8")
    assert text.count(PLACEHOLDER) == 2
    assert sorted(re.findall(r"\{\{[A-Z_]+\}\}", text)) == sorted(
        [PLACEHOLDER, PLACEHOLDER, "{{DOMAIN}}", "{{PRIVACY_URL}}", "{{TERMS_URL}}", "{{VERSION}}", "{{WEBSITE}}"])
    raw = template()
    assert raw["id"] == PLACEHOLDER and raw["bots"][0]["botId"] == PLACEHOLDER
    # unfilled, the template fails exactly at the app id and the three addresses (what the schema checks)
    problems = errors(raw, schema_path(raw["manifestVersion"]))
    assert sorted({p.split(":")[0] for p in problems}) == ["bots/0/botId", "developer/privacyUrl",
                                                           "developer/termsOfUseUrl", "developer/websiteUrl", "id"], \
        problems


def test_the_schema_check_is_not_vacuous() -> None:
    manifest = render_manifest(APP_ID)
    path = schema_path(manifest["manifestVersion"])
    wrong_version = {**manifest, "manifestVersion": "9.99"}
    # the schema quirk: draft-04 has no const, so Draft4Validator would let any manifestVersion through
    assert errors(wrong_version, path, Draft4Validator) == []
    assert [p.split(":")[0] for p in errors(wrong_version, path)] == ["manifestVersion"]
    bad = json.loads(json.dumps(manifest))
    bad["name"]["short"] = "Parley, the safeguarding escalation bot"  # > 30 characters
    bad["bots"][0]["scopes"] = ["personal", "everyone"]  # not a scope
    bad["accentColor"] = "teal"  # not #RRGGBB
    bad["bots"][0]["supportsEmail"] = True  # unknown key
    assert len(errors(bad, path)) == 4, errors(bad, path)


def test_app_and_bot_settings() -> None:
    m = render_manifest(APP_ID)
    assert m["id"] == APP_ID and m["version"] == "1.0.0"
    assert m["name"]["short"] == "Parley"
    dev = m["developer"]
    assert dev["name"] == "Parley"
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert dev[key].startswith("https://parley.example.org"), key
    assert m["description"]["short"] and "immediate risk" in m["description"]["full"]
    assert m["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", m["accentColor"])
    assert m["validDomains"] == ["parley.example.org"]
    (bot,) = m["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert bot["supportsFiles"] is False and bot.get("isNotificationOnly", False) is False
    lists = {tuple(c["scopes"]): [cmd["title"] for cmd in c["commands"]] for c in bot["commandLists"]}
    assert lists == {("personal",): ["new", "list", "case", "help"], ("team",): ["register"]}
    assert all(cmd.get("description") for c in bot["commandLists"] for cmd in c["commands"])


@pytest.mark.parametrize("bad", ["", "not-a-guid", PLACEHOLDER, "8f3c2b1a-4d5e-4f60-9a7b-0c1d2e3f4a5",
                                 "8f3c2b1a-4d5e-4f60-9a7b-0c1d2e3f4a5b0", "g f3c2b1a-4d5e-4f60-9a7b-0c1d2e3f4a5b",
                                 "8f3c2b1a4d5e4f609a7b0c1d2e3f4a5b", "{8f3c2b1a-4d5e-4f60-9a7b-0c1d2e3f4a5b}"])
def test_an_app_id_that_is_not_a_guid_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="GUID"):
        build_package(bad, tmp_path / "p.zip")
    assert not list(tmp_path.iterdir())  # nothing written


# -- the icons ------------------------------------------------------------------------------------------------
def test_color_icon_is_192_full_colour() -> None:
    Image = pil()
    with Image.open(MANIFEST_DIR / "color.png") as im:
        assert im.format == "PNG" and im.size == (192, 192)
        pixels = rgba_pixels(im)
    assert all(a == 255 for *_, a in pixels)  # opaque: Teams shows it on any background
    colours = {p[:3] for p in pixels}
    assert len(colours) > 2 and any(len({r, g, b}) > 1 for r, g, b in colours)  # not greyscale
    assert (0x1F, 0x5E, 0x7A) in colours  # the manifest's accentColor is its background
    assert template()["accentColor"].upper() == "#1F5E7A"


def test_outline_icon_is_32_white_on_transparent_only() -> None:
    Image = pil()
    with Image.open(MANIFEST_DIR / "outline.png") as im:
        assert im.format == "PNG" and im.size == (32, 32) and im.mode == "RGBA"
        pixels = rgba_pixels(im)
    assert {p[:3] for p in pixels} == {(255, 255, 255)}, "every pixel must be white; the shape is in alpha"
    alphas = [p[3] for p in pixels]
    assert alphas.count(0) > 200 and alphas.count(255) > 100  # a transparent background and a solid shape
    assert all(a == 0 for a in alphas[:32])  # the top row is background


def test_icons_are_what_make_icons_draws(tmp_path: Path) -> None:
    Image = pil()
    spec = importlib.util.spec_from_file_location("make_icons", MANIFEST_DIR / "make_icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, draw in (("color.png", module.color_icon), ("outline.png", module.outline_icon)):
        with Image.open(MANIFEST_DIR / name) as committed:
            want = rgba_pixels(committed)
        got = rgba_pixels(draw())
        # a tolerance, as another Pillow version may resample slightly differently
        assert len(got) == len(want) and max(abs(a - b) for p, q in zip(got, want) for a, b in zip(p, q)) <= 8, name


# -- the package ----------------------------------------------------------------------------------------------
def test_build_package_writes_the_manifest_and_both_icons(tmp_path: Path) -> None:
    out = build_package(APP_ID, tmp_path / "dist" / "parley-teams.zip")
    assert out == tmp_path / "dist" / "parley-teams.zip" and out.is_file()
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["color.png", "cy.json", "manifest.json", "outline.png"]  # at the root
        manifest = json.loads(zf.read("manifest.json"))
        assert json.loads(zf.read("cy.json")) == json.loads((MANIFEST_DIR / "cy.json").read_text("utf-8"))
        assert zf.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
        assert zf.read("outline.png") == (MANIFEST_DIR / "outline.png").read_bytes()
    assert manifest == render_manifest(APP_ID)
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert PLACEHOLDER not in json.dumps(manifest)
    assert errors(manifest, schema_path(manifest["manifestVersion"])) == []
    Image = pil()
    with zipfile.ZipFile(out) as zf:
        assert Image.open(io.BytesIO(zf.read("outline.png"))).size == (32, 32)
    # the same inputs give the same bytes; a directory gets parley-teams.zip inside it
    again = build_package(APP_ID, tmp_path)
    assert again == tmp_path / "parley-teams.zip" and again.read_bytes() == out.read_bytes()
    other = build_package(str(uuid.UUID(int=7)), tmp_path / "other.zip")
    with zipfile.ZipFile(other) as zf:
        assert json.loads(zf.read("manifest.json"))["id"] == "00000000-0000-0000-0000-000000000007"


def _copy_manifest_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "teams"
    shutil.copytree(MANIFEST_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def test_build_package_refuses_an_invalid_manifest_or_wrong_icons(tmp_path: Path) -> None:
    schema_path(template()["manifestVersion"])  # needs the schemas
    folder = _copy_manifest_dir(tmp_path)
    broken = template()
    broken["name"]["short"] = "x" * 31
    (folder / "manifest.json").write_text(json.dumps(broken), "utf-8")
    with pytest.raises(ValueError, match="name/short"):
        build_package(APP_ID, tmp_path / "a.zip", manifest_dir=folder)
    folder = _copy_manifest_dir(tmp_path / "b")
    shutil.copy(MANIFEST_DIR / "outline.png", folder / "color.png")  # 32×32 where 192×192 is needed
    with pytest.raises(ValueError, match="color.png"):
        build_package(APP_ID, tmp_path / "b.zip", manifest_dir=folder)
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "b.zip").exists()


def test_the_package_carries_the_boards_own_details_from_options_or_the_environment(tmp_path: Path) -> None:
    from adapters.teams.package import Options

    env = {"PARLEY_TEAMS_APP_VERSION": "2.3.4", "PARLEY_TEAMS_WEBSITE": "https://safeguarding.example.gov.uk/parley/",
           "PARLEY_PUBLIC_URL": "https://parley.example.gov.uk/teams"}
    options = Options.given(env, terms_url="https://safeguarding.example.gov.uk/terms-of-use")
    assert options == Options(version="2.3.4", website="https://safeguarding.example.gov.uk/parley",
                              privacy_url="https://safeguarding.example.gov.uk/parley/privacy",
                              terms_url="https://safeguarding.example.gov.uk/terms-of-use",
                              domain="parley.example.gov.uk")
    out = build_package(APP_ID, tmp_path / "p.zip", options=options, production=True)
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["version"] == "2.3.4" and manifest["validDomains"] == ["parley.example.gov.uk"]
    assert manifest["developer"] == {"name": "Parley", "websiteUrl": "https://safeguarding.example.gov.uk/parley",
                                     "privacyUrl": "https://safeguarding.example.gov.uk/parley/privacy",
                                     "termsOfUseUrl": "https://safeguarding.example.gov.uk/terms-of-use"}
    assert manifest["localizationInfo"] == {"defaultLanguageTag": "en-gb",
                                            "additionalLanguages": [{"languageTag": "cy", "file": "cy.json"}]}
    assert errors(manifest, schema_path(manifest["manifestVersion"])) == []


@pytest.mark.parametrize(("given", "refused"), [
    ({"version": "2"}, "version"), ({"website": "http://board.example.gov.uk"}, "--website"),
    ({"privacy_url": "board.example.gov.uk/privacy"}, "--privacy-url"), ({"domain": "https://x.gov.uk"}, "--domain"),
])
def test_options_that_teams_would_refuse_are_refused_first(tmp_path: Path, given: dict, refused: str) -> None:
    from adapters.teams.package import Options

    with pytest.raises(ValueError, match=refused):
        build_package(APP_ID, tmp_path / "p.zip", options=Options.given({}, **given))
    assert not (tmp_path / "p.zip").exists()


def test_in_production_the_template_addresses_are_refused(tmp_path: Path) -> None:
    from adapters.teams.package import Options

    with pytest.raises(ValueError, match="PARLEY_PRODUCTION"):
        build_package(APP_ID, tmp_path / "p.zip", options=Options.given({}), production=True)
    assert build_package(APP_ID, tmp_path / "p.zip", options=Options.given({}), production=False).is_file()


def test_the_welsh_localisation_translates_every_name_description_and_command(tmp_path: Path) -> None:
    welsh = json.loads((MANIFEST_DIR / "cy.json").read_text("utf-8"))
    manifest = template()
    commands = [(b, c, n) for b, bot in enumerate(manifest["bots"]) for c, cl in enumerate(bot["commandLists"])
                for n, _ in enumerate(cl["commands"])]
    assert len(commands) == 5
    for b, c, n in commands:
        assert welsh[f"bots[{b}].commandLists[{c}].commands[{n}].description"]
    # the Welsh command words are the ones the conversation understands
    from bot.conversation.router import WELSH_WORDS

    personal = [welsh[f"bots[0].commandLists[0].commands[{n}].title"] for n in range(4)]
    assert [WELSH_WORDS[w] for w in personal] == [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    folder = _copy_manifest_dir(tmp_path)
    del welsh["bots[0].commandLists[0].commands[1].description"]
    (folder / "cy.json").write_text(json.dumps(welsh), "utf-8")
    with pytest.raises(ValueError, match=r"not translated: bots\[0\]\.commandLists\[0\]\.commands\[1\]\.description"):
        build_package(APP_ID, tmp_path / "c.zip", manifest_dir=folder)


def test_the_command_takes_the_options(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from adapters.cli import app

    out = tmp_path / "p.zip"
    result = CliRunner().invoke(app, ["teams", "package", "--app-id", APP_ID, "--out", str(out), "--version", "1.4.0",
                                      "--website", "https://board.example.gov.uk", "--domain", "parley.board.gov.uk"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["version"], manifest["validDomains"], manifest["developer"]["termsOfUseUrl"]) == \
        ("1.4.0", ["parley.board.gov.uk"], "https://board.example.gov.uk/terms")
    bad = CliRunner().invoke(app, ["teams", "package", "--app-id", APP_ID, "--out", str(out), "--version", "one"])
    assert bad.exit_code == 1 and "three numbers" in bad.output
