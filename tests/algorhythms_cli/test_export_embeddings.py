import numpy as np

from algorhythms_cli.main import main
from tests.catalogue import catalogue, publish_catalogue


def test_export_writes_the_most_popular_tracks_vectors_and_metadata(
    database, tmp_path, monkeypatch, capsys
):
    tracks = catalogue("v1")
    tracks.names[1] = "Tab\there\nand a new line"
    tracks.albums[0] = None
    publish_catalogue(database, tracks)
    monkeypatch.setenv("DATABASE_URL", database)
    out = tmp_path / "projector"

    assert main(["export-embeddings", "--out", str(out), "--limit", "25"]) == 0
    assert "wrote 25 tracks of version 1 (16 dimensions)" in capsys.readouterr().out
    vectors = (out / "vectors.tsv").read_text().splitlines()
    metadata = [line.split("\t") for line in (out / "metadata.tsv").read_text().splitlines()]
    assert len(vectors) == 25 and len(metadata) == 26
    assert metadata[0] == ["uri", "name", "artist", "album", "num_playlists"]
    # Most popular first (the catalogue's popularity falls with the id).
    assert [row[0] for row in metadata[1:]] == tracks.uris[:25]
    assert metadata[1] == [tracks.uris[0], "Song 0 v1", "Artist000", "", "2000"]
    assert metadata[2][1] == "Tab here and a new line"
    assert all(len(row) == 5 for row in metadata)
    values = np.array([[float(v) for v in line.split("\t")] for line in vectors])
    assert values.shape == (25, 16)
    assert np.allclose(values, tracks.vectors[:25], atol=1e-5)

    assert main(["export-embeddings", "--out", str(out)]) == 0
    assert len((out / "vectors.tsv").read_text().splitlines()) == len(tracks)


def test_export_says_so_when_nothing_is_published(database, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database)
    assert main(["export-embeddings", "--out", str(tmp_path / "out")]) == 1
    assert "nothing is published yet" in capsys.readouterr().err
    assert not (tmp_path / "out" / "vectors.tsv").exists()
