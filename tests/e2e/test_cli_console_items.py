"""The real `parley` command for the console-journey findings (/work/shared/findings/console-journeys.md) that
live on the command line: where files go (C23), the forms a case has reached (C18), the development-key banner
(C-UX26) and `doctor` on the demo set-up (C-UX25)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cases import services
from bot.cases.services import Ctx
from storage import repo
from tests.bot.test_documents import _cv_case_at_stage_2, _open, person

pytestmark = pytest.mark.e2e
PARLEY = str(Path(sys.executable).with_name("parley"))


def _env_without_files_dir() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PARLEY_FILES_DIR", None)
    return env


def test_C23_files_go_to_the_files_folder_not_the_current_one(sqlite_runtime, tmp_path) -> None:
    ref = _cv_case_at_stage_2(sqlite_runtime)
    here = tmp_path / "checkout"
    here.mkdir()
    env = _env_without_files_dir()
    done = subprocess.run([PARLEY, "form", ref, "appendix-1", "--format", "html", "--db", sqlite_runtime.url],
                          capture_output=True, text=True, timeout=120, cwd=here, env=env)
    assert done.returncode == 0, done.stderr
    written = here / "parley-files" / f"{ref}-appendix-1.html"
    assert done.stdout.strip() == f"Wrote {written.resolve()}"
    assert [p.name for p in here.iterdir()] == ["parley-files"]  # nothing in the current folder itself
    assert stat.S_IMODE(written.stat().st_mode) == 0o600  # the form carries the subject details
    assert "Jamie Doe" in written.read_text(encoding="utf-8")
    # PARLEY_FILES_DIR names another folder; the log and the quarterly report go there too
    files = tmp_path / "elsewhere"
    env["PARLEY_FILES_DIR"] = str(files)
    for args, name in ((["export", "log", "--board", "cardiff-and-vale"], "cardiff-and-vale-log.csv"),
                       (["report", "quarterly", "--board", "cardiff-and-vale", "--quarter", "2026q2", "--format",
                         "csv"], "cardiff-and-vale-2026Q2.csv")):
        done = subprocess.run([PARLEY, *args, "--db", sqlite_runtime.url], capture_output=True, text=True,
                              timeout=120, cwd=here, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"Wrote {(files / name).resolve()}"
        assert (files / name).exists()
    assert [p.name for p in here.iterdir()] == ["parley-files"]
    assert stat.S_IMODE((files / "cardiff-and-vale-log.csv").stat().st_mode) == 0o600
    # the default folder is not committed by accident
    gitignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text(encoding="utf-8").split()
    assert "parley-files/" in gitignore


def test_C18_the_cli_refuses_a_form_the_case_has_not_reached(sqlite_runtime, tmp_path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ref = _open(sqlite_runtime, "cardiff-and-vale", now)
    with sqlite_runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        services.bypass_to_stage(Ctx(person(s, "cardiff-and-vale", "alice"), "console", now), case,
                                 reason_id="senior-coordination", session=s)
        s.commit()
    done = subprocess.run([PARLEY, "form", ref, "appendix-1", "--format", "pdf", "--db", sqlite_runtime.url],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Appendix 1: Concerns about inter-agency safeguarding practice applies once a case reaches Stage 2: "
        f"Escalated to CVSB, and {ref} has not. The forms {ref} has reached: appendix-3 (Appendix 3: Stage 1 "
        "record).")
    assert not list(Path(os.environ["PARLEY_FILES_DIR"]).glob(f"{ref}-*"))
    ok = subprocess.run([PARLEY, "form", ref, "appendix-3", "--format", "html", "--db", sqlite_runtime.url],
                        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr


def _demo_env(tmp_path: Path) -> dict[str, str]:
    """A newcomer's environment: no data key (the development key, in a file of this test's own), no platform."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "PARLEY_TEAMS"))}
    for key in ("PARLEY_DATA_KEYS", "PARLEY_WEBHOOK_URL", "PARLEY_PRODUCTION"):
        env.pop(key, None)
    env["PARLEY_DEV_KEY_FILE"] = str(tmp_path / "dev-key")
    return env


def _run(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([PARLEY, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


BANNER = "WARNING: PARLEY_DATA_KEYS is not set"
REMINDER = "Using the development data key in"


def test_CUX26_the_development_key_banner_once_per_database_then_one_line(tmp_path) -> None:
    env = _demo_env(tmp_path)
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    first = _run(["db", "upgrade", "--db", db], tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(BANNER) == 1 and REMINDER not in first.stderr
    for args in (["demo", "load", "--db", db], ["export", "log", "--board", "swindon", "--db", db]):
        later = _run(args, tmp_path, env)
        assert later.returncode == 0, later.stderr
        assert BANNER not in later.stderr and "!!!!" not in later.stderr
        [line] = [x for x in later.stderr.splitlines() if x.strip()]
        assert line == (f"Using the development data key in {tmp_path / 'dev-key'}: fine for trying Parley out, not "
                        "for real cases (set PARLEY_DATA_KEYS; see `parley doctor`).")
    # another database gets the full banner once too
    other = _run(["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'other.db'}"], tmp_path, env)
    assert other.stderr.count(BANNER) == 1


def test_CUX25_doctor_on_the_demo_setup_says_the_console_works(tmp_path) -> None:
    env = _demo_env(tmp_path)
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    assert _run(["db", "upgrade", "--db", db], tmp_path, env).returncode == 0
    assert _run(["demo", "load", "--db", db], tmp_path, env).returncode == 0
    done = _run(["doctor", "--db", db], tmp_path, env)
    assert done.returncode == 1  # not ready for real cases
    lines = done.stdout.splitlines()
    assert [x.split(":")[0] for x in lines if x.startswith("PROBLEM")] == ["PROBLEM  data key",
                                                                            "PROBLEM  chat platforms"]
    assert lines[-1] == ("NOTE     Trying Parley out? `make run` / `parley console` works as it is: without a chat "
                         "platform and with the development key. The PROBLEMs above are for serving real cases "
                         "(`parley serve`).")
    # with a real problem too (no database), there is no such note
    gone = _run(["doctor", "--db", f"sqlite:///{tmp_path / 'missing.db'}"], tmp_path, env)
    assert gone.returncode == 1 and "NOTE" not in gone.stdout
