"""The deployment files: compose and Dockerfiles validated with the real tools (no Docker engine
runs here), the API image's pins, and both Dagster instance configurations loaded for real."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import create_database

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: scripts/ensure_tools.sh installs it"
    clean = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    return subprocess.run(
        [docker_compose, "-f", str(DOCKER / "compose.yaml"), "config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def host_and_port(port) -> tuple[str, int]:
    """(host address, container port) of a published port as `config` prints it: a mapping,
    or 'host:published:target/proto'."""
    if isinstance(port, dict):
        return port.get("host_ip") or "0.0.0.0", int(port["target"])
    parts = str(port).split("/")[0].split(":")
    return (parts[0] if len(parts) == 3 else "0.0.0.0"), int(parts[-1])


def test_compose_file_is_valid_and_wires_the_services_through_the_environment():
    run = compose_config({"POSTGRES_PASSWORD": "secret"})
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    assert set(services) == {
        "postgres",
        "spark-master",
        "spark-worker",
        "dagster-webserver",
        "dagster-daemon",
        "api",
    }
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    daemon = services["dagster-daemon"]["environment"]
    assert daemon["SPARK_MASTER"] == "spark://spark-master:7077"
    assert daemon["DATABASE_URL"] == "postgresql://algorhythms:secret@postgres:5432/algorhythms"
    assert daemon["DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://")
    assert services["api"]["environment"]["DATABASE_URL"] == daemon["DATABASE_URL"]
    assert services["api"]["build"]["dockerfile"] == "docker/Dockerfile.api"
    assert "dagster-daemon" in services["dagster-daemon"]["command"]
    # The daemon launches run containers: it needs the Docker socket, and they need the named
    # network and volume that docker/dagster.yaml names.
    assert any("docker.sock" in str(v) for v in services["dagster-daemon"]["volumes"])
    assert [str(g) for g in services["dagster-daemon"]["group_add"]] == ["0"]
    # Only the API listens on every interface; the unauthenticated UIs on the loopback, and
    # only the daemon (which launches runs) gets the Docker socket.
    assert not any("docker.sock" in str(v) for v in services["dagster-webserver"]["volumes"])
    for name, port in (("dagster-webserver", 3000), ("spark-master", 8080)):
        (published,) = services[name]["ports"]
        assert host_and_port(published) == ("127.0.0.1", port), published
    (api_port,) = services["api"]["ports"]
    assert host_and_port(api_port) == ("0.0.0.0", 8000)
    config = yaml.safe_load(run.stdout)
    assert config["networks"]["default"]["name"] == "algorhythms"
    assert config["volumes"]["data"]["name"] == "algorhythms-data"
    launcher = yaml.safe_load((DOCKER / "dagster.yaml").read_text())["run_launcher"]["config"]
    assert launcher["network"] == "algorhythms"
    assert "algorhythms-data" in launcher["container_kwargs"]["volumes"]
    assert set(launcher["env_vars"]) <= set(daemon)


def test_compose_refuses_to_start_without_a_database_password():
    run = compose_config({})
    assert run.returncode != 0
    assert "set POSTGRES_PASSWORD" in run.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile.api", "Dockerfile.pipeline"])
def test_dockerfiles_pass_hadolint(dockerfile):
    hadolint = Path(sys.executable).parent / "hadolint"
    run = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKER / dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_api_image_runs_as_non_root_with_the_projects_pins():
    dockerfile = (DOCKER / "Dockerfile.api").read_text()
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert "pyspark" not in dockerfile and "torch" not in dockerfile
    pins = {}
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, version = dep.split("==")
        pins[name] = version
    lines = (DOCKER / "api-requirements.txt").read_text().splitlines()
    for line in (x for x in lines if x and not x.startswith("#")):
        name, version = line.split("==")
        assert pins.get(name) == version, line


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def test_api_image_installs_every_package_the_service_imports():
    """Each third-party module `serving` imports comes from a package the API image installs,
    or from one of their own dependencies."""
    import ast
    import sys
    from importlib.metadata import PackageNotFoundError, packages_distributions, requires

    listed = _requirement_names(
        x
        for x in (DOCKER / "api-requirements.txt").read_text().splitlines()
        if x and not x.startswith("#")
    )
    installed, todo = set(), list(listed)
    while todo:  # the listed packages and everything they depend on
        name = todo.pop()
        if name in installed:
            continue
        installed.add(name)
        try:
            needs = requires(name) or ()
        except PackageNotFoundError:  # a dependency for another platform
            continue
        todo += _requirement_names(r for r in needs if "extra ==" not in r)
    modules = set()
    for path in (ROOT / "serving").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    local = {"serving", "algorhythms_store", "__future__"}
    third_party = {m for m in modules - local if m not in sys.stdlib_module_names}
    distributions = packages_distributions()
    missing = {
        m: distributions.get(m)
        for m in third_party
        if not {d.lower().replace("_", "-") for d in distributions.get(m, [m])} & installed
    }
    assert not missing, f"the API image does not install {missing}"


def test_local_instance_queues_runs_with_pool_limits(tmp_path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        settings = instance.get_concurrency_config()
        assert settings.run_queue_config.max_concurrent_runs == 2
        assert settings.pool_config.default_pool_limit == 1
        assert str(settings.pool_config.pool_granularity).lower().endswith("run")


def test_scaled_instance_stores_runs_in_postgres(tmp_path, postgres_server, monkeypatch):
    url = create_database(postgres_server, "dagster_storage")
    monkeypatch.setenv(
        "DAGSTER_POSTGRES_URL", url.replace("postgresql://", "postgresql+psycopg2://")
    )
    shutil.copy(DOCKER / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
        assert instance.run_launcher.image == "algorhythms-pipeline"
        assert instance.run_launcher.networks == ["algorhythms"]
        instance.add_dynamic_partitions("mpd_slices", ["mpd.slice.0-999"])
        assert instance.get_dynamic_partitions("mpd_slices") == ["mpd.slice.0-999"]
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
