"""Publishing while the API answers: no failed read, and never two versions in one answer."""

import threading
import time

import httpx
import numpy as np
import pytest

from tests.catalogue import catalogue, coldstart, publish_catalogue, titles, uri
from tests.conftest import create_database

N = 5_000


def test_publish_and_failed_publish_while_readers_query(api_server, postgres_server):
    url = create_database(postgres_server, "serving_swap")
    tags = {
        publish_catalogue(
            url, catalogue("v1", n=N), coldstart=coldstart(), title_tracks=titles()
        ).version: "v1"
    }
    server = api_server({"DATABASE_URL": url})
    requests = [
        ("/v1/recommendations", {"songs": [{"id": uri(3)}, {"id": uri(9)}], "count": 20}),
        (
            "/v1/recommendations",
            {
                "songs": [
                    {"id": uri(4)},
                    {"id": "new", "features": {"name": "a b", "artist": "c"}},
                ],
                "count": 20,
                "dislikes": [uri(5)],
            },
        ),
        ("/v1/playlists/continue", {"name": "rock", "count": 80}),
        ("/v1/playlists/continue", {"name": "zzz", "count": 10}),
    ]
    answers, errors = [], []
    stop = threading.Event()

    def read(path, body):
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                response = client.post(path, json=body)
                if response.status_code != 200:
                    errors.append((response.status_code, response.text))
                else:
                    answers.append(response.json())

    readers = [threading.Thread(target=read, args=r) for r in requests * 2]
    for reader in readers:
        reader.start()
    try:
        time.sleep(1)
        for i in range(2, 12):
            if i == 5:
                bad = catalogue(f"v{i}", n=N, seed=i)
                bad.vectors[N - 10, 0] = np.nan
                with pytest.raises(Exception, match="NaN"):
                    publish_catalogue(url, bad)
                continue
            tracks = catalogue(f"v{i}", n=N, seed=i)
            result = publish_catalogue(
                url, tracks, coldstart=coldstart(seed=i), title_tracks=titles()
            )
            tags[result.version] = f"v{i}"
        time.sleep(0.5)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == []
    seen = {a["version"] for a in answers}
    assert seen == set(tags)  # every published version answered; the failed one never did
    for answer in answers:
        names = {item["name"].rsplit(" ", 1)[1] for item in answer["items"]}
        assert names == {tags[answer["version"]]}, answer
    assert len(answers) > 100
