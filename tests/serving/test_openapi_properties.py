"""Property-based tests of the API against its own OpenAPI schema (schemathesis): for every
operation, generated valid and invalid requests, sent to a real uvicorn server over a published
database, never get a 5xx, and every response matches what the schema says of it (status,
content type, body)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving.api.routes.playlists import EMPTY_PLAYLIST, NO_USABLE_PLAYLIST
from serving.api.routes.recommendations import NO_USABLE_SONG
from serving.api.routes.tracks import NO_SEARCH_WORDS
from tests.catalogue import catalogue, coldstart, neighbors, publish_catalogue, titles
from tests.conftest import ApiServer, create_database


@pytest.fixture(scope="module")
def api_schema(postgres_server, tmp_path_factory):
    url = create_database(postgres_server, "serving_properties")
    publish_catalogue(
        url,
        catalogue("v1"),
        coldstart=coldstart(),
        title_tracks=titles(),
        track_neighbors=neighbors(),
    )
    server = ApiServer({"DATABASE_URL": url}, tmp_path_factory.mktemp("properties") / "api.log")
    try:
        server.wait_until_up()
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        schema.config.update(base_url=server.url)
        yield schema
    finally:
        server.stop()


SEMANTIC_422 = (EMPTY_PLAYLIST, NO_USABLE_SONG, NO_SEARCH_WORDS, NO_USABLE_PLAYLIST)


def test_every_operation_answers_as_its_schema_says(api_schema):
    """Each operation in turn, as schemathesis's pytest integration would run it (driven here
    through its Hypothesis strategies)."""
    from hypothesis import given

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            if _positive(case) and response.status_code == 422:
                # a request the schema allows is refused only for what the schema documents
                # as its 422: no usable song, an empty playlist, a search without words
                detail = response.json()["detail"]
                message = detail.get("message") if isinstance(detail, dict) else detail
                assert message in SEMANTIC_422, response.text

        check()


def _positive(case) -> bool:
    generation = getattr(getattr(case, "meta", None), "generation", None)
    return str(getattr(generation, "mode", "")).lower().endswith("positive")
