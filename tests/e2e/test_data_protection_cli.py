"""The data-protection commands through the real `parley` CLI: a fresh clone with no key (development key, loud
warning, `parley serve` refuses), `parley audit verify|export`, `parley retention apply`, `parley keys
generate|rotate` and `parley doctor`."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.e2e

PARLEY = Path(sys.executable).with_name("parley")
INTAKE = ["/as alice", "new", "no", "no", "1", "Referral closed after one visit", "Phoned", "Re-open", "today",
          "Swindon Children's Social Care", "Bob Evans, Social Worker", "Jamie Doe", "skip", "Submit", "/quit"]


def parley(*args: str, env: dict, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(PARLEY), *args], env=env, cwd=cwd, input=stdin, text=True, capture_output=True,
                          timeout=180)


def _raise_a_case(env: dict, cwd: Path) -> None:
    for args in (["db", "upgrade"], ["demo", "load"]):
        done = parley(*args, env=env, cwd=cwd)
        assert done.returncode == 0, done.stderr
    done = parley("console", "--board", "swindon", "--clock", "2026-04-02 10:00", env=env, cwd=cwd,
                  stdin="\n".join(INTAKE) + "\n")
    assert done.returncode == 0 and "Recorded as SWN-2026-0001." in done.stdout, done.stdout[-2000:] + done.stderr


def test_a_fresh_clone_runs_on_a_development_key_and_serve_refuses_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PARLEY_DATA_KEYS", "PARLEY_DEV_KEY_FILE", "PARLEY_PRODUCTION")
           and not k.startswith(("SLACK_", "MICROSOFT_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'parley.db'}"
    _raise_a_case(env, tmp_path)
    key_file = tmp_path / ".parley-dev-key"
    assert key_file.exists()
    with sqlite3.connect(tmp_path / "parley.db") as db:
        [(name,)] = db.execute("SELECT name FROM subject_details").fetchall()
    assert name.startswith("gAAAAA") and "Jamie" not in name
    # the warning said what is going on, loudly, the first time (above); on this database it is one line now
    done = parley("console", "--board", "swindon", env=env, cwd=tmp_path, stdin="case SWN-2026-0001\n/quit\n")
    assert "WARNING: PARLEY_DATA_KEYS is not set" not in done.stderr
    assert f"Using the development data key in {key_file}" in done.stderr
    served = parley("serve", env=env, cwd=tmp_path)
    assert served.returncode == 1
    assert "parley serve needs a real data key: PARLEY_DATA_KEYS is not set" in served.stderr
    checked = parley("doctor", env=env, cwd=tmp_path)
    assert checked.returncode == 1 and "PROBLEM  data key: PARLEY_DATA_KEYS is not set" in checked.stdout
    # moving to a real key: the development key goes second, rotation re-encrypts, then it can be dropped
    real = Fernet.generate_key().decode()
    dev = key_file.read_text().strip()
    rotated = parley("keys", "rotate", env={**env, "PARLEY_DATA_KEYS": f"{real},{dev}"}, cwd=tmp_path)
    assert rotated.returncode == 0 and "Re-encrypted 1 subject-details row(s)" in rotated.stdout, rotated.stderr
    key_file.unlink()
    ok = parley("doctor", env={**env, "PARLEY_DATA_KEYS": real}, cwd=tmp_path)
    assert "OK       stored personal data: the newest of 1 subject-details rows (SWN-2026-0001) decrypts" in ok.stdout


def test_audit_retention_keys_and_doctor_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'parley.db'}"
    _raise_a_case(env, tmp_path)

    done = parley("audit", "verify", env=env, cwd=tmp_path)
    assert done.returncode == 0 and "The event history is intact: 1 cases" in done.stdout, done.stderr
    out = tmp_path / "trail.csv"
    done = parley("audit", "export", "swn-2026-0001", "--format", "csv", "--out", str(out), env=env, cwd=tmp_path)
    assert done.returncode == 0 and f"Wrote {out}" in done.stdout, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    seqs = [int(r["seq"]) for r in rows if r["record"] == "event"]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    assert rows[0]["kind"] == "immediate_risk_answered" and "Jamie" not in out.read_text()
    as_json = parley("audit", "export", "SWN-2026-0001", env=env, cwd=tmp_path)
    assert as_json.stdout.lstrip().startswith("{") and '"verified": true' in as_json.stdout
    for args, message in ((["audit", "export", "NOPE-1"], "There is no case 'NOPE-1'"),
                          (["audit", "export", "SWN-2026-0001", "--format", "xml"], "--format must be json or csv"),
                          (["audit", "verify", "--board", "atlantis"], "Unknown board 'atlantis'"),
                          (["retention", "apply", "--board", "atlantis"], "Unknown board 'atlantis'")):
        bad = parley(*args, env=env, cwd=tmp_path)
        assert bad.returncode == 1 and message in bad.stderr, (args, bad.stderr)

    # tampering with the file (SQLite has no trigger) is found and said in plain words
    with sqlite3.connect(tmp_path / "parley.db") as db:
        [(seq,)] = db.execute("SELECT seq FROM case_events WHERE kind = 'opened'").fetchall()
        db.execute("UPDATE case_events SET data = json_set(data, '$.category', 'other') WHERE kind = 'opened'")
    done = parley("audit", "verify", "--board", "swindon", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert f"SWN-2026-0001: event {seq} (opened, recorded 2026-04-02 09:00 UTC) had its details changed" in done.stdout
    assert "has been tampered with: 1 problem(s)" in done.stdout

    dry = parley("retention", "apply", "--dry-run", "--board", "swindon", env=env, cwd=tmp_path)
    assert dry.returncode == 0 and "Dry run: nothing was changed (0 case(s) would be anonymised)." in dry.stdout
    assert "kept 6 years after resolution or closure" in dry.stdout

    key = parley("keys", "generate", env=env, cwd=tmp_path).stdout.strip()
    assert len(key) == 44 and Fernet(key.encode())
    refused = parley("keys", "rotate", env={**env, "PARLEY_DATA_KEYS": key}, cwd=tmp_path)
    assert refused.returncode == 1
    assert "SWN-2026-0001 cannot be decrypted with any key in PARLEY_DATA_KEYS" in refused.stderr
    assert "Nothing was changed" in refused.stderr

    secret = "xoxb-do-not-print-me-4711"
    doc = parley("doctor", env={**env, "SLACK_BOT_TOKEN": secret, "SLACK_APP_TOKEN": "xapp-nor-me-0815"},
                 cwd=tmp_path)
    assert doc.returncode == 1  # the demo directory has no Slack channels
    assert "PROBLEM  channels (slack, swindon): " in doc.stdout
    assert "Wiltshire Police has none for line managers, directors" in doc.stdout
    assert secret not in doc.stdout + doc.stderr and "xapp-nor-me" not in doc.stdout + doc.stderr
    assert "OK       Slack: SLACK_BOT_TOKEN present, SLACK_SIGNING_SECRET absent, SLACK_APP_TOKEN present" in doc.stdout


def test_serve_scheduler_and_console_refuse_a_key_that_cannot_read_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "PARLEY_AUDIT"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'parley.db'}"
    _raise_a_case(env, tmp_path)
    wrong = dict(env, PARLEY_DATA_KEYS=Fernet.generate_key().decode())
    for args in (["scheduler", "--until-idle"], ["serve", "--port", "0"], ["console", "--board", "swindon"]):
        done = parley(*args, env=wrong, cwd=tmp_path, stdin="/quit\n")
        assert done.returncode == 1, (args, done.stdout[-500:], done.stderr[-1500:])
        assert "Parley will not start: the configured keys cannot read this database's data" in done.stderr, args
        assert "SWN-2026-0001 cannot be decrypted" in done.stderr and "Traceback" not in done.stderr
    # the console from another folder without any key: no silent new development key writing beside the old one
    other = tmp_path / "elsewhere"
    other.mkdir()
    bare = {k: v for k, v in env.items() if k not in ("PARLEY_DATA_KEYS", "PARLEY_DEV_KEY_FILE")}
    done = parley("console", "--board", "swindon", env=bare, cwd=other, stdin="\n".join(INTAKE) + "\n")
    assert done.returncode == 1 and "is not the one this database was written with" in done.stderr, done.stderr
    with sqlite3.connect(tmp_path / "parley.db") as db:
        assert db.execute("SELECT count(*) FROM subject_details").fetchone() == (1,)
    # and doctor names it
    checked = parley("doctor", env=wrong, cwd=tmp_path)
    assert checked.returncode == 1 and "PROBLEM  other stored data" in checked.stdout
