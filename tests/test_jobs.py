"""Scheduled jobs: fetch with checksums, incremental and idempotent dates, SIGKILL and resume."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

SLICES = ["enwiki-Anarchism-revs-0000-0999.xml.bz2", "enwiki-Anarchism-revs-last-500.xml.bz2"]


def _sha1(path):
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


def make_mirror(root, shared_data, dates, wiki="simplewiki", bad_sha1=False):
    """A dump server on disk (file://): dumpstatus.json per date, files linked from ../shared/data."""
    for date, names in dates.items():
        d = root / wiki / date
        d.mkdir(parents=True)
        files = {}
        for name in names:
            src = shared_data / "wikipedia" / name
            os.symlink(src, d / name)
            files[name] = {"url": f"/{wiki}/{date}/{name}", "size": src.stat().st_size,
                           "sha1": "0" * 40 if bad_sha1 else _sha1(src)}
        (d / "dumpstatus.json").write_text(json.dumps(
            {"jobs": {"metahistorybz2dump": {"status": "done", "files": files}}, "version": "0.8"}))
    return f"file://{root}"


@pytest.fixture
def job_env(tmp_path, shared_data):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("diff:\n  aligner: classical\nlabel:\n  enabled: false\nsummarize:\n  enabled: false\n")
    base = make_mirror(tmp_path / "mirror", shared_data, {"20261101": SLICES[:1], "20261201": SLICES})
    return {"base": base, "config": str(cfg), "tmp": tmp_path}


def _args(env, wh, date):
    return ["jobs", "run", "--wiki", "simplewiki", "--date", date, "--warehouse", str(wh), "--dumps-dir",
            str(env["tmp"] / "dumps"), "--base-url", env["base"], "--config", env["config"]]


def _runs(wh):
    return sorted(os.listdir(wh / "_runs")) if (wh / "_runs").exists() else []


def test_dates_are_incremental_and_idempotent(job_env, tmp_path):
    from revmine.cli import main

    wh = tmp_path / "wh"
    assert main(_args(job_env, wh, "20261101")) == 0
    assert len(_runs(wh)) == 1
    marker = next((wh / "_jobs" / "simplewiki" / "loaded").iterdir())
    manifest = json.loads(marker.read_text())
    assert manifest["rows"]["revision_pairs"] == 1000 and manifest["accounting"]["balanced"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    before = marker.stat().st_mtime_ns
    assert main(_args(job_env, wh, "20261101")) == 0  # finished date: nothing runs again
    assert len(_runs(wh)) == 1 and marker.stat().st_mtime_ns == before
    assert main(_args(job_env, wh, "20261201")) == 0  # new date: only the new file is processed
    assert len(_runs(wh)) == 2
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    assert con.execute("select count(*) from revision_pairs").fetchone()[0] == 1500
    assert json.loads((wh / "_jobs" / "simplewiki" / "dates" / "20261201.json").read_text())["files"]


def test_fetch_rejects_a_bad_checksum(tmp_path, shared_data):
    from revmine.cli import main

    base = make_mirror(tmp_path / "mirror", shared_data, {"20261101": SLICES[:1]}, bad_sha1=True)
    wh = tmp_path / "wh"
    assert main(["jobs", "run", "--wiki", "simplewiki", "--date", "20261101", "--warehouse", str(wh),
                 "--dumps-dir", str(tmp_path / "dumps"), "--base-url", base]) == 1
    assert not list((tmp_path / "dumps").rglob("*.bz2")) and not _runs(wh)


def _table_digest(wh):
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    out = {}
    for table, cols in [("revision_pairs", "*"), ("edits", "pair_id, align_idx, edit_idx, old_text, new_text"),
                        ("sentences", "pair_id, side, sent_idx, text"), ("alignments", "pair_id, align_idx, kind"),
                        ("quarantine", "reason, rev_id"), ("node_changes", "pair_id, node_type, action, key"),
                        ("diffs", "*")]:
        rows = con.execute(f"select {cols} from {table} order by all").fetchall()
        out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def test_sigkill_mid_run_then_resume_gives_exactly_the_same_rows(job_env, tmp_path):
    """Kill -9 while the second file is in the pipeline, rerun: same rows as an uninterrupted run."""
    from revmine.cli import main

    clean = tmp_path / "clean"
    assert main(_args(job_env, clean, "20261201")) == 0
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "revmine.cli"] + _args(job_env, killed, "20261201")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    loaded = killed / "_jobs" / "simplewiki" / "loaded"
    deadline = time.time() + 300
    while time.time() < deadline and not (loaded.exists() and any(loaded.iterdir())):
        time.sleep(0.2)
    assert proc.poll() is None, "the job finished before it could be killed"
    time.sleep(1.0)  # well inside the second file's pipeline run
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(loaded.iterdir())) == 1
    assert main(_args(job_env, killed, "20261201")) == 0
    assert _table_digest(killed) == _table_digest(clean)


def test_an_offline_job_fails_in_a_few_lines_each_said_once(tmp_path):
    """No dump server: exit 1 with one line per event and no traceback (-v would show it)."""
    cmd = [sys.executable, "-m", "revmine.cli", "jobs", "run", "--wiki", "simplewiki", "--date", "20261101",
           "--warehouse", str(tmp_path / "wh"), "--dumps-dir", str(tmp_path / "dumps"),
           "--base-url", "http://127.0.0.1:9"]  # the discard port: connection refused at once
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out and "DEBUG" not in out
    lines = [ln.strip() for ln in out.splitlines() if ln.strip().strip("=-*")]
    assert len(lines) < 60, out
    events = [ln for ln in lines if "failed" in ln.lower() or "refused" in ln.lower()]
    assert events and len(set(events)) == len(events), out


@pytest.mark.parametrize("flags, says", [("'--x", "No closing quotation"), ("x y", "expected a list of Beam flags")])
def test_runner_args_that_are_not_flags_are_one_line_before_any_task(tmp_path, capsys, flags, says):
    """An unbalanced quote in --runner-args failed inside every luigi task (shlex's ValueError, once a task)."""
    from revmine.cli import main

    assert main(["jobs", "run", "--wiki", "testwiki", "--date", "20261101", "--warehouse", str(tmp_path / "wh"),
                 "--runner-args", flags]) == 2
    assert says in " ".join(capsys.readouterr().err.split()) and not (tmp_path / "wh").exists()


def test_a_remote_warehouse_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    """The jobs keep markers, a lock and a catalog beside the tables as local files: given gs://bucket/wh
    they wrote them under ./gs:/bucket/wh, a folder nobody asked for, while the run itself staged into the
    bucket. A URL is now refused before any task, from --warehouse or from luigi.cfg."""
    import luigi

    from revmine.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["jobs", "run", "--wiki", "testwiki", "--date", "20261101", "--dumps-dir", str(tmp_path / "dumps"),
            "--base-url", f"file://{tmp_path}/nowhere"]
    assert main([*args, "--warehouse", "gs://bucket/wh"]) == 2
    assert "need a local warehouse" in " ".join(capsys.readouterr().err.split())
    cfg = luigi.configuration.get_config()
    monkeypatch.setattr(cfg, "get", lambda section, option, default=None, **kw:
                        "s3://bucket/wh" if (section, option) == ("DumpParams", "warehouse") else default)
    assert main(args) == 2
    assert "s3://bucket/wh" in " ".join(capsys.readouterr().err.split())
    assert os.listdir(tmp_path) == []
