"""Version lists at scale (issue 18), by behaviour, on SQLite and PostgreSQL alike (CI's
second run is PostgreSQL): keyset pages walk every version exactly once in order, whichever
order is asked for and whichever way a client pages; page numbers keep working; the count
is exact up to a bound and says when it is an estimate; the latest version is a constant
number of queries."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.utils import timezone

from axion_registry import pagination
from models_app.models import ModelVersion, RegisteredModel
from models_app.version_metrics import backfill

pytestmark = pytest.mark.django_db


def seed(model: RegisteredModel, count: int, *, seed: int = 0,
         tags: dict | None = None) -> list[ModelVersion]:
    """`count` versions of `model` with shuffled semvers (1.9.0 before 1.10.0 numerically)
    and creation times, in one bulk insert."""
    rng = random.Random(seed)
    semvers = [(1 + i // 50, (i // 5) % 10, i % 5) for i in range(count)]
    rng.shuffle(semvers)
    now = timezone.now()
    numbered = model.versions.count()
    rows = [
        ModelVersion(model=model, version=f"{a}.{b}.{c}", major=a, minor=b, patch=c,
                     sequence=numbered + i + 1,
                     framework="sklearn", artifact_format="pickle", artifact_path="x.pkl",
                     artifact_sha256="0" * 64, artifact_size=1,
                     metrics={"auc": round(rng.uniform(0.5, 0.9), 3)},
                     tags=tags if tags is not None else {"team": f"team-{i % 3}"})
        for i, (a, b, c) in enumerate(semvers)
    ]
    created = ModelVersion.objects.bulk_create(rows)
    backfill(connection)  # the metric rows, as the migration makes them for existing versions
    for row in created:  # some creation times tie, on purpose
        row.created_at = now - timedelta(seconds=rng.randrange(count // 2 + 1))
    ModelVersion.objects.bulk_update(created, ["created_at"])
    return created


@pytest.fixture
def analysed():
    """ANALYZE model_versions; afterwards the rows go and the table is analysed again, as
    ANALYZE's row count outlives the test's rollback and would mislead later tests'
    planner estimates (and counts)."""

    def analyse() -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE model_versions")
                cursor.execute("ANALYZE models_app_registeredmodel")
                cursor.execute("ANALYZE models_app_versionmetric")

    yield analyse
    if connection.vendor == "postgresql":
        # TRUNCATE is transactional on PostgreSQL: it goes with the test's rollback, and is
        # seconds faster than the ORM's cascading delete of 20,000 versions.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE wants no checks pending
            cursor.execute("TRUNCATE model_versions CASCADE")
        analyse()


@pytest.fixture
def catalogue(researcher):
    models = [RegisteredModel.objects.create(name=name, owner=researcher)
              for name in ("regime", "ranking", "earnings")]
    for number, model in enumerate(models):
        seed(model, 23 + 9 * number, seed=number)
    return models


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def walk(api, url: str, *, link: str = "next") -> list[dict]:
    rows, seen_pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        rows.extend(page["results"] if link == "next" else reversed(page["results"]))
        url = page[link] and path_of(page[link])
        seen_pages += 1
        assert seen_pages < 500, "the links go round in circles"
    return rows


def semver(row: dict) -> tuple[int, ...]:
    return tuple(int(part) for part in row["version"].split("."))


def expected(rows: list[ModelVersion], ordering: str | None) -> list[str]:
    ids = {model.name: model.pk for model in RegisteredModel.objects.all()}
    names = {pk: name for name, pk in ids.items()}

    def key(v: ModelVersion) -> tuple:
        descending_semver = (-v.major, -v.minor, -v.patch)
        return {
            None: (v.model_id, *descending_semver),
            "version": (v.major, v.minor, v.patch, v.model_id),
            "-version": (*descending_semver, v.model_id),
            "created_at": (v.created_at, v.model_id, *descending_semver),
            "-created_at": (-v.created_at.timestamp(), v.model_id, *descending_semver),
            "name": (names[v.model_id], *descending_semver),
            "sequence": (v.sequence, v.model_id, *descending_semver),
            "-sequence": (-v.sequence, v.model_id, *descending_semver),
        }[ordering]

    return [f"{names[v.model_id]}@{v.version}" for v in sorted(rows, key=key)]


def labels(rows: list[dict]) -> list[str]:
    return [f"{row['model']}@{row['version']}" for row in rows]


@pytest.mark.parametrize("ordering", [None, "version", "-version", "created_at",
                                      "-created_at", "name", "sequence", "-sequence"])
def test_following_next_walks_every_version_once_in_order(api, catalogue, ordering):
    everything = list(ModelVersion.objects.all())
    query = f"&ordering={ordering}" if ordering else ""
    walked = walk(api, f"/api/v1/versions/?page_size=7{query}")
    assert labels(walked) == expected(everything, ordering)
    assert len(set(labels(walked))) == len(everything) == 23 + 32 + 41


@pytest.mark.parametrize("ordering", [None, "version", "-version", "-created_at",
                                      "-sequence"])
def test_one_models_versions_walk_both_ways(api, catalogue, ordering):
    ranking = [v for v in ModelVersion.objects.all() if v.model.name == "ranking"]
    query = f"&ordering={ordering}" if ordering else ""
    forwards = walk(api, f"/api/v1/models/ranking/versions/?page_size=5{query}")
    assert labels(forwards) == expected(ranking, ordering)
    backwards = walk(api, f"/api/v1/models/ranking/versions/?page_size=5&page=last{query}",
                     link="previous")
    assert labels(backwards) == list(reversed(labels(forwards)))


def test_the_default_order_within_a_model_is_numeric_semver_descending(api, catalogue):
    rows = walk(api, "/api/v1/models/ranking/versions/?page_size=1000")
    assert [semver(row) for row in rows] == sorted((semver(row) for row in rows), reverse=True)


def test_a_walk_under_a_filter_sees_only_and_all_matches(api, catalogue):
    matches = [v for v in ModelVersion.objects.all()
               if v.tags.get("team") == "team-1" and v.metrics["auc"] >= 0.7]
    walked = walk(api, "/api/v1/versions/?page_size=4&tag=team:team-1&metric=auc>=0.7")
    assert labels(walked) == expected(matches, None)


def test_page_numbers_still_work_and_their_next_link_is_a_cursor(api, catalogue):
    whole = labels(walk(api, "/api/v1/models/ranking/versions/?page_size=1000"))
    page = api.get("/api/v1/models/ranking/versions/?page_size=6&page=3").json()
    assert labels(page["results"]) == whole[12:18]
    assert "cursor=" in page["next"] and "page=" not in page["next"]
    assert labels(api.get(path_of(page["next"])).json()["results"]) == whole[18:24]
    assert labels(api.get(path_of(page["previous"])).json()["results"]) == whole[6:12]
    last = api.get("/api/v1/models/ranking/versions/?page_size=6&page=last").json()
    assert labels(last["results"]) == whole[-6:]
    assert last["next"] is None
    assert api.get("/api/v1/models/ranking/versions/?page=99").json()["results"] == []


def test_the_first_page_has_no_previous_and_the_last_no_next(api, catalogue):
    first = api.get("/api/v1/models/regime/versions/?page_size=10").json()
    assert first["previous"] is None and first["next"]
    whole = api.get("/api/v1/models/regime/versions/?page_size=23").json()
    assert whole["previous"] is None and whole["next"] is None


@pytest.mark.parametrize(("query", "code"), [
    ("page=two", "invalid_page"),
    ("page=0", "invalid_page"),
    ("cursor=not-a-cursor", "invalid_cursor"),
    ("cursor=eyJhZnRlciI6WzFdLCJiYWNrd2FyZHMiOmZhbHNlfQ", "invalid_cursor"),  # too short
    ("cursor=eyJhZnRlciI6WyJ4IiwxLDFdLCJiYWNrd2FyZHMiOmZhbHNlfQ", "invalid_cursor"),
])
def test_a_bad_page_or_cursor_is_a_400_that_says_what_to_do(api, catalogue, query, code):
    response = api.get(f"/api/v1/models/ranking/versions/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert "page" in response.json()["message"]


def test_a_cursor_from_another_ordering_is_refused(api, catalogue):
    page = api.get("/api/v1/versions/?page_size=5&ordering=created_at").json()
    cursor = page["next"].split("cursor=")[1].split("&")[0]
    response = api.get(f"/api/v1/versions/?cursor={cursor}&ordering=name")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


def test_the_count_is_exact_up_to_the_bound(api, catalogue):
    body = api.get("/api/v1/versions/?page_size=5").json()
    assert (body["count"], body["count_exact"]) == (96, True)
    assert api.get("/api/v1/versions/?tag=team:team-2").json()["count"] == len(
        [v for v in ModelVersion.objects.all() if v.tags["team"] == "team-2"])


def test_beyond_the_bound_the_count_is_an_estimate_on_postgresql_only(api, catalogue,
                                                                      monkeypatch, analysed):
    monkeypatch.setattr(pagination, "COUNT_EXACT_UP_TO", 20)
    analysed()
    body = api.get("/api/v1/versions/?page_size=5").json()
    if connection.vendor == "postgresql":
        assert body["count_exact"] is False
        assert body["count"] > 20
    else:
        assert (body["count"], body["count_exact"]) == (96, True)
    small = api.get("/api/v1/models/ranking/versions/?page_size=5&stage=staging").json()
    assert (small["count"], small["count_exact"]) == (0, True)


def test_the_latest_version_is_a_constant_number_of_queries(api, catalogue,
                                                            django_assert_max_num_queries):
    api.get("/api/v1/models/earnings/versions/?page_size=1")  # the token is cached now
    newest = max(semver({"version": v.version}) for v in
                 ModelVersion.objects.filter(model__name="earnings"))
    # the model, the planner's estimate (PostgreSQL), the bounded count, the page
    with django_assert_max_num_queries(4):
        body = api.get("/api/v1/models/earnings/versions/?page_size=1").json()
    assert semver(body["results"][0]) == newest


def test_version_latest_is_one_query(catalogue, django_assert_num_queries):
    from models_app.selectors import version_latest

    ranking = RegisteredModel.objects.get(name="ranking")
    with django_assert_num_queries(1):
        latest = version_latest(model=ranking)
    assert latest is not None
    assert (latest.major, latest.minor, latest.patch) == max(
        (v.major, v.minor, v.patch) for v in ranking.versions.all())


@pytest.mark.parametrize(("tags", "query", "found"), [
    ({"team": "quant"}, "tag=team:quant", True),
    ({"team": "quant"}, "tag=team:QUANT", False),
    ({"team": ["quant"]}, "tag=team:quant", False),
    ({"team": {"name": "quant"}}, "tag=team:quant", False),
    ({"n": 3}, "tag=n:3", False),
    ({"gpu": ""}, "tag=gpu:", True),
    ({"gpu": ""}, "tag=gpu", True),
    ({"gpu": None}, "tag=gpu", True),
    ({"team": "a:b"}, "tag=team:a:b", True),
    ({}, "tag=team", False),
])
def test_tag_search_answers_the_same_on_every_database(api, researcher, tags, query, found):
    model = RegisteredModel.objects.create(name="tagged", owner=researcher)
    seed(model, 1, tags=tags)
    results = api.get(f"/api/v1/versions/?{query}").json()["results"]
    assert bool(results) is found


@pytest.mark.postgres
def test_on_postgresql_pages_and_tag_search_read_through_indexes(api, researcher, analysed):
    """With 20,000 versions analysed, no version list request reads the table through a
    sequential scan: first, cursor and last pages, the latest version, the tag search, metric
    thresholds that are rare and common."""
    from django.test.utils import CaptureQueriesContext

    models = [RegisteredModel.objects.create(name=f"m{number:02}", owner=researcher)
              for number in range(20)]
    rng = random.Random(18)
    turns = [model for model in models for _ in range(1000)]
    rng.shuffle(turns)
    made = {model.pk: 0 for model in models}
    rows = []
    for model in turns:
        index = made[model.pk]
        made[model.pk] += 1
        a, b, c = 1 + index // 100, (index // 10) % 10, index % 10
        rows.append(ModelVersion(
            model=model, version=f"{a}.{b}.{c}", major=a, minor=b, patch=c,
            sequence=index + 1, framework="sklearn", artifact_format="pickle",
            artifact_path="x.pkl",
            artifact_sha256="0" * 64, artifact_size=1, metrics={"auc": rng.random()},
            tags={"team": f"team-{rng.randrange(100)}"}))
    ModelVersion.objects.bulk_create(rows, batch_size=5000)
    backfill(connection)
    analysed()
    first = api.get("/api/v1/models/m07/versions/").json()
    requests = ["/api/v1/models/m07/versions/", path_of(first["next"]),
                "/api/v1/models/m07/versions/?page=last",
                "/api/v1/models/m07/versions/?page_size=1",
                "/api/v1/models/m07/versions/latest/",
                "/api/v1/models/m07/versions/latest/?stage=draft",
                "/api/v1/versions/", "/api/v1/versions/?tag=team:team-42",
                "/api/v1/versions/?tag=team:team-42&name=m0",
                "/api/v1/versions/?metric=auc>=0.9995", "/api/v1/versions/?metric=auc>=0.3",
                "/api/v1/models/m07/versions/?metric=auc>=0.999&metric=auc<0.9995"]
    for url in requests:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(url).status_code == 200
        reads = [q["sql"] for q in queries.captured_queries
                 if q["sql"].startswith("SELECT") and "model_versions" in q["sql"]]
        assert reads
        for sql in reads:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(line for (line,) in cursor.fetchall())
            assert "Seq Scan on model_versions" not in plan, (url, plan)
            assert "Seq Scan on models_app_versionmetric" not in plan, (url, plan)


@pytest.mark.postgres
def test_on_postgresql_the_production_version_is_found_without_walking_the_versions(
        api, researcher, analysed):
    """The production version sits at the far end of the list order (the lowest semver);
    the model's page and the models list find it through the one-production index."""
    from django.test.utils import CaptureQueriesContext

    model = RegisteredModel.objects.create(name="ranking", owner=researcher)
    seed(model, 5000)
    ModelVersion.objects.filter(model=model, version="1.0.0").update(stage="production")
    analysed()
    for url in ("/api/v1/models/ranking/", "/api/v1/models/"):
        with CaptureQueriesContext(connection) as queries:
            body = api.get(url).json()
        assert (body.get("results") or [body])[0]["production_version"] == "1.0.0"
        for query in queries.captured_queries:
            if "'production'" not in query["sql"]:
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query['sql']}")
                plan = json.dumps(cursor.fetchone()[0])
            removed = [int(n) for n in re.findall(r'"Rows Removed by Filter": (\d+)', plan)]
            assert max(removed, default=0) < 100, (url, plan)


@pytest.mark.django_db
def test_a_list_that_matches_nothing_by_construction_counts_zero_exactly():
    """`pk__in=[]` makes Django skip the query (and EXPLAIN answers nothing): found by the
    schema fuzzer as a 500 on PostgreSQL."""
    from axion_registry.pagination import bounded_count

    assert bounded_count(ModelVersion.objects.filter(pk__in=[])) == (0, True)
