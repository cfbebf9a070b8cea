"""The chart's database wiring against a real PostgreSQL server.

The DATABASE_URL the chart renders must connect (its password holds every character that breaks
naive URLs), and the pg_isready probe the chart renders, run with the environment the chart
gives the container, must pass while the server runs and fail once it stops.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from gitops_gen.model import chart

from .pgserver import PgServer, fresh_postgres_server, postgres_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.postgres

USER = "todo"
DBNAME = "todoapp"
NASTY_PASSWORD = "p@ss:w/rd%25#?&=+ x~'\"$!"


def render_objects(password: str, **extra: Any) -> dict[tuple[str, str], dict[str, Any]]:
    values = {
        "postgresql": {"auth": {"username": USER, "database": DBNAME, "password": password}},
        "backend": {"secrets": {"secretKey": "jwt-secret", "geminiApiKey": "gemini-key"}},
        **extra,
    }
    rendered = chart.render(chart.packaged_chart_dir(), [values], namespace="todo-test")
    return {(r.kind, r.name): r.obj for r in rendered}


def secret_value(secret: dict[str, Any], key: str) -> str:
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    return base64.b64decode(secret["data"][key]).decode()


def rendered_database_url(password: str) -> str:
    return secret_value(render_objects(password)[("Secret", "todo-backend")], "DATABASE_URL")


@pytest.mark.parametrize(
    "password",
    ["plain", "with space", "a+b", "@:/%#?", "100%", "%41", "p@ss:w/rd#x", NASTY_PASSWORD,
     "ünï©ødé"],
)
def test_database_url_round_trips_through_parsers(password: str) -> None:
    url = rendered_database_url(password)
    assert url.startswith(f"postgresql://{USER}:")
    assert url.endswith(f"@todo-db:5432/{DBNAME}")
    # libpq's own URI parser (what psycopg and psql use).
    params = psycopg.conninfo.conninfo_to_dict(url)
    assert params["password"] == password
    assert params["user"] == USER
    assert params["host"] == "todo-db"
    assert params["port"] == "5432"
    assert params["dbname"] == DBNAME
    # A urllib split plus unquote, as SQLAlchemy's make_url and asyncpg decode the user-info.
    parts = urlsplit(url)
    assert parts.hostname == "todo-db" and parts.port == 5432 and parts.path == f"/{DBNAME}"
    assert unquote(parts.password or "") == password
    assert unquote(parts.username or "") == USER


def test_database_url_connects_to_real_postgres(postgres_server: PgServer) -> None:  # noqa: F811
    postgres_server.create_database(DBNAME, USER, NASTY_PASSWORD)
    url = rendered_database_url(NASTY_PASSWORD)
    # The URL as rendered; only the address is pointed at the test server (hostaddr skips the
    # DNS lookup of todo-db, keeping the URL itself untouched).
    with psycopg.connect(url, hostaddr=postgres_server.host, port=postgres_server.port) as conn:
        row = conn.execute("select 1, current_user, current_database()").fetchone()
    assert row == (1, USER, DBNAME)

    wrong = rendered_database_url(NASTY_PASSWORD + "x")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, hostaddr=postgres_server.host, port=postgres_server.port)


def container_env(
    objects: dict[tuple[str, str], dict[str, Any]], container: dict[str, Any]
) -> dict[str, str]:
    """The environment Kubernetes would give the container, resolved from rendered objects."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
        if "secretRef" in source:
            secret = objects[("Secret", source["secretRef"]["name"])]
            env.update({k: secret_value(secret, k) for k in secret.get("data") or {}})
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            secret = objects[("Secret", ref["secretKeyRef"]["name"])]
            env[item["name"]] = secret_value(secret, ref["secretKeyRef"]["key"])
        else:
            cm = objects[("ConfigMap", ref["configMapKeyRef"]["name"])]
            env[item["name"]] = cm["data"][ref["configMapKeyRef"]["key"]]
    return env


def run_probe(command: list[str], env: dict[str, str], server: PgServer) -> int:
    binpath = os.pathsep.join([str(server.bindir), os.environ.get("PATH", "")])
    full_env = {**env, "PGPORT": str(server.port), "PATH": binpath, "LC_ALL": "C"}
    exe = shutil.which(command[0], path=binpath)
    assert exe, f"{command[0]} not found"
    result = subprocess.run([exe, *command[1:]], env=full_env, capture_output=True, timeout=30,
                            check=False)
    return result.returncode


def test_rendered_probe_passes_then_fails_after_stop(fresh_postgres_server: PgServer) -> None:  # noqa: F811
    server = fresh_postgres_server
    server.create_database(DBNAME, USER, NASTY_PASSWORD)
    objects = render_objects(NASTY_PASSWORD)
    container = objects[("Deployment", "todo-db")]["spec"]["template"]["spec"]["containers"][0]
    env = container_env(objects, container)
    assert env["POSTGRES_USER"] == USER and env["POSTGRES_DB"] == DBNAME
    assert env["POSTGRES_PASSWORD"] == NASTY_PASSWORD
    assert env["PGPORT"] == "5432"  # what the probe reads in the pod; the test points it at ours
    probes = ("startupProbe", "livenessProbe", "readinessProbe")
    for probe in probes:
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["sh", "-c"] and "127.0.0.1" in command[2]
        assert run_probe(command, env, server) == 0, probe

    server.stop()
    for probe in probes:
        assert run_probe(container[probe]["exec"]["command"], env, server) != 0, probe


def test_backend_wait_for_database_init_container(fresh_postgres_server: PgServer) -> None:  # noqa: F811
    """The init container's loop ends once the database answers (host pointed at the server)."""
    server = fresh_postgres_server
    objects = render_objects(NASTY_PASSWORD)
    pod = objects[("Deployment", "todo-backend")]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    env = container_env(objects, init)
    assert env["DATABASE_HOST"] == "todo-db" and env["DATABASE_PORT"] == "5432"
    env.update(DATABASE_HOST=server.host, DATABASE_PORT=str(server.port))
    assert run_probe(init["command"], env, server) == 0
