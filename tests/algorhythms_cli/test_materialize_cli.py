import os
import threading

from algorhythms_cli.main import main


def test_materialize_refuses_a_missing_mpd_folder_before_starting_anything(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("ALGORHYTHMS_MPD_DIR", raising=False)
    threads = threading.active_count()
    missing = tmp_path / "no-such-folder"
    assert main(["materialize", "--mpd-dir", str(missing)]) == 2
    assert f"the MPD folder {missing} does not exist" in capsys.readouterr().err
    # nothing was set or started ahead of the run: no Spark session, no environment
    assert "ALGORHYTHMS_MPD_DIR" not in os.environ
    assert threading.active_count() == threads
    assert not any(t.name == "spark-start" for t in threading.enumerate())
