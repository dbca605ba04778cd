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

from bot import services
from bot.services import Ctx
from storage import repo
from tests.bot.test_documents import _cv_case_at_stage_2, _open, person

pytestmark = pytest.mark.e2e
PARLEY = str(Path(sys.executable).with_name("parley"))


def _env_without_files_dir() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PARLEY_FILES_DIR", None)
    return env


def test_C23_files_go_to_the_files_folder_not_the_current_one(sqlite_runtime, tmp_path) -> None:  # noqa: ANN001
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


def test_C18_the_cli_refuses_a_form_the_case_has_not_reached(sqlite_runtime, tmp_path) -> None:  # noqa: ANN001
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
