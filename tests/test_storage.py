"""bot.storage against a real SQLite file and, when TEST_DATABASE_URL is set, PostgreSQL.

Each PostgreSQL test runs in a schema of its own (random name, dropped afterwards), so runs
sharing one server never collide.
"""
from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dbtest import BACKENDS, PG_SKIP, PG_URL, FakeClock
from sqlalchemy.engine import make_url

from bot.settings import ConfigError
from bot.storage import (
    MIGRATION_LOCK_KEY,
    Base,
    KnowledgeVersionRow,
    QuestionLog,
    ReplyStats,
    UnansweredQuestion,
    VersionLog,
    alembic_config,
    create_engine_for,
    migrate,
)

ROOT = Path(__file__).resolve().parent.parent
# The statistics tables (no user or chat id in them), and every table of the schema
# (migration 0002 added the broadcast tables, whose subscribers hold chat ids).
TABLES = {"reply_counts", "unanswered_questions", "knowledge_versions"}
ALL_TABLES = TABLES | {"subscribers", "announcements", "deliveries", "rate_buckets", "access_tokens",
                       "conversations", "wechat_nonces"}
T0 = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_admin():
    if not PG_URL:
        pytest.skip(PG_SKIP)
    engine = create_engine_for(PG_URL)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path):
    """A URL of an empty database: a SQLite file in a folder not yet created, or a fresh
    PostgreSQL schema put first on the search_path."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}"
        return
    admin = request.getfixturevalue("pg_admin")
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def engine(database_url):
    """An engine on the empty database (not migrated)."""
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine):
    """The same engine, migrated to head."""
    migrate(engine)
    return engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def rows(engine, table: str, order_by: str) -> list[dict]:
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order_by}"))
        return [dict(row._mapping) for row in result]


def versions_in_db(engine) -> list[str]:
    with engine.connect() as conn:
        return [v for (v,) in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def user_tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def as_day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)  # SQLite text


def as_time(value) -> datetime:
    """A timestamp column read with raw SQL: aware on PostgreSQL, naive UTC text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- engines and migrations -------------------------------------------------------------

def test_migrate_creates_the_tables_and_a_second_run_changes_nothing(engine, clock):
    assert user_tables(engine) == set()
    migrate(engine)
    assert user_tables(engine) == ALL_TABLES
    assert versions_in_db(engine) == [head()] == ["0005"]
    QuestionLog(engine, clock=clock).record(question="parking?", intent="fallback",
                                            lang="en", answered=False, closest=None)
    before = rows(engine, "unanswered_questions", "id")

    migrate(engine)

    assert versions_in_db(engine) == [head()]
    assert user_tables(engine) == ALL_TABLES
    assert rows(engine, "unanswered_questions", "id") == before


def test_models_match_the_hand_written_migration(db):
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_no_statistics_table_has_a_user_or_chat_id(db):
    inspector = sa.inspect(db)
    columns = {t: {c["name"] for c in inspector.get_columns(t)} for t in TABLES}
    assert columns == {
        "reply_counts": {"day", "intent", "lang", "count"},
        "unanswered_questions": {"id", "question", "count", "closest", "first_seen",
                                 "last_seen"},
        "knowledge_versions": {"id", "version", "git_commit", "trigger", "ok", "errors",
                               "loaded_at"},
    }
    for names in columns.values():
        for name in names:
            assert not any(word in name for word in
                           ("user", "chat", "sender", "openid", "telegram", "wechat", "from"))


def test_concurrent_migrate_from_two_threads(database_url):
    engines = [create_engine_for(database_url) for _ in range(2)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(engine):
        try:
            start.wait()
            migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert failures == []
        assert versions_in_db(engines[0]) == [head()]
        assert user_tables(engines[1]) == ALL_TABLES
    finally:
        for e in engines:
            e.dispose()


def test_concurrent_migrate_from_two_processes(database_url):
    code = ("import sys; from bot.storage import create_engine_for, migrate; "
            "migrate(create_engine_for(sys.argv[1]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, database_url], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stderr.close()
    # both succeed; stderr may carry a library warning, never an error
    assert [code for code, _ in results] == [0, 0], results
    assert not any("Error" in err or "Traceback" in err for _, err in results), results
    engine = create_engine_for(database_url)
    try:
        assert versions_in_db(engine) == [head()]
        assert user_tables(engine) == ALL_TABLES
    finally:
        engine.dispose()


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
@pytest.mark.parametrize("backend", ["postgresql"])
def test_migrate_waits_for_the_advisory_lock(engine, pg_admin):
    done = threading.Event()
    worker = threading.Thread(target=lambda: (migrate(engine), done.set()))
    with pg_admin.begin() as conn:  # another instance is migrating
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        worker.start()
        time.sleep(0.5)
        assert not done.is_set()
        assert user_tables(engine) == set()
    worker.join(30)
    assert done.is_set()
    assert user_tables(engine) == ALL_TABLES


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_file_is_created_in_wal_mode(database_url, db):
    path = Path(make_url(database_url).database)
    assert path.is_file()  # its folder "data" did not exist
    with db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_sqlite_in_memory_is_one_database_for_all_threads(clock):
    engine = create_engine_for("sqlite:///:memory:")
    migrate(engine)
    log = QuestionLog(engine, clock=clock)
    worker = threading.Thread(target=log.record, kwargs=dict(
        question="Wi-Fi password?", intent="fallback", lang="en", answered=False,
        closest="fact:wifi"))
    worker.start()
    worker.join()
    assert log.unanswered() == [UnansweredQuestion("wi fi password", 1, "fact:wifi", T0)]
    engine.dispose()


def test_postgresql_urls_use_psycopg_3_and_pre_ping():
    for url in ("postgresql://bot:pw@db.example/forum", "postgres://bot:pw@db.example/forum",
                "postgresql+psycopg://bot:pw@db.example/forum"):
        engine = create_engine_for(url)  # connects lazily: no server needed
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.database == "forum"
        assert engine.pool._pre_ping is True
        engine.dispose()


@pytest.mark.parametrize("url", ["mysql://bot:hunter2@db/forum", "not a url",
                                 "postgresql+asyncpg://bot:hunter2@db/forum"])
def test_unsupported_urls_are_a_config_error_without_the_password(url):
    with pytest.raises(ConfigError) as caught:
        create_engine_for(url)
    assert "hunter2" not in str(caught.value)


# --- QuestionLog ------------------------------------------------------------------------

def test_record_counts_every_reply_and_keeps_only_unanswered_questions(db, clock):
    log = QuestionLog(db, clock=clock)
    log.record(question="Who is Dr Cai?", intent="speaker", lang="en", answered=True,
               closest="person:cai-bin")
    assert rows(db, "unanswered_questions", "id") == []

    clock.advance(minutes=5)
    log.record(question="Is there parking?", intent="fallback", lang="en", answered=False,
               closest="fact:venue")
    log.record(question="Qui est le Dr Cai ?", intent="speaker", lang="fr", answered=True,
               closest=None)

    counts = [(as_day(r["day"]), r["intent"], r["lang"], r["count"])
              for r in rows(db, "reply_counts", "intent, lang")]
    assert counts == [(T0.date(), "fallback", "en", 1), (T0.date(), "speaker", "en", 1),
                      (T0.date(), "speaker", "fr", 1)]
    [row] = rows(db, "unanswered_questions", "id")
    assert (row["question"], row["count"], row["closest"]) == ("is there parking", 1,
                                                              "fact:venue")
    assert as_time(row["first_seen"]) == as_time(row["last_seen"]) == T0 + timedelta(minutes=5)


def test_same_unanswered_question_is_one_row_with_count_last_seen_and_closest(db, clock):
    log = QuestionLog(db, clock=clock)
    log.record(question="badge pickup", intent="fallback", lang="en", answered=False,
               closest="fact:badges")
    clock.advance(hours=1)
    log.record(question="badge pickup", intent="event", lang="en", answered=False,
               closest=None)  # low confidence, no candidate: the old one stays
    [row] = rows(db, "unanswered_questions", "id")
    assert (row["count"], row["closest"]) == (2, "fact:badges")
    clock.advance(hours=1)
    log.record(question="badge pickup", intent="fallback", lang="en", answered=False,
               closest="talk:opening")
    [row] = rows(db, "unanswered_questions", "id")
    assert (row["count"], row["closest"]) == (3, "talk:opening")
    assert as_time(row["first_seen"]) == T0
    assert as_time(row["last_seen"]) == T0 + timedelta(hours=2)
    assert [r["count"] for r in rows(db, "reply_counts", "intent")] == [1, 2]  # event, fallback


def test_questions_are_normalised_before_counting(db, clock):
    log = QuestionLog(db, clock=clock)
    for text in ("Where is Dr. Cai?", "  WHERE   is dr cai  ", "Whère is Dr Cái !",
                 "Ｗｈｅｒｅ ｉｓ Ｄｒ Ｃａｉ"):
        log.record(question=text, intent="fallback", lang="en", answered=False, closest=None)
    log.record(question="?!…", intent="fallback", lang="en", answered=False, closest=None)
    log.record(question="a " * 400, intent="fallback", lang="en", answered=False, closest=None)

    stored = {r["question"]: r["count"] for r in rows(db, "unanswered_questions", "id")}
    assert stored == {"where is dr cai": 4, ("a " * 250).strip(): 1}
    assert len(("a " * 250).strip()) == 499  # cut at 500 characters, trailing space gone
    assert rows(db, "reply_counts", "intent")[0]["count"] == 6  # every reply is counted


def test_unanswered_orders_by_count_then_recency_and_limits(db, clock):
    log = QuestionLog(db, clock=clock)

    def ask(text, times=1):
        for _ in range(times):
            log.record(question=text, intent="fallback", lang="en", answered=False,
                       closest=None)
        clock.advance(minutes=10)

    ask("early single")              # T0
    ask("popular", 3)                # T0+10
    ask("late single")               # T0+20
    ask("twice", 2)                  # T0+30
    minutes = lambda m: T0 + timedelta(minutes=m)  # noqa: E731

    assert log.unanswered() == [
        UnansweredQuestion("popular", 3, None, minutes(10)),
        UnansweredQuestion("twice", 2, None, minutes(30)),
        UnansweredQuestion("late single", 1, None, minutes(20)),
        UnansweredQuestion("early single", 1, None, minutes(0)),
    ]
    assert [q.question for q in log.unanswered(limit=2)] == ["popular", "twice"]
    assert log.unanswered(limit=0) == []
    casablanca = timezone(timedelta(hours=1))  # any zone: compared as UTC
    since = minutes(20).astimezone(casablanca)
    assert [q.question for q in log.unanswered(since=since)] == ["twice", "late single"]
    assert all(q.last_seen.tzinfo == UTC for q in log.unanswered())


def test_stats_count_per_intent_and_language_over_inclusive_days(db, clock):
    log = QuestionLog(db, clock=clock)
    plan = {  # day offset -> replies (intent, lang)
        -1: [("speaker", "en")],
        0: [("speaker", "en"), ("speaker", "fr"), ("fallback", "ar")],
        1: [("event", "zh"), ("speaker", "fr"), ("fallback", "fr")],
        2: [("event", "en")],
    }
    for offset, replies in plan.items():
        clock.now = T0 + timedelta(days=offset)
        for intent, lang in replies:
            log.record(question="q", intent=intent, lang=lang, answered=True, closest=None)

    day = T0.date()
    stats = log.stats(day, day + timedelta(days=1))
    assert stats == ReplyStats(total=6, by_intent={"speaker": 3, "fallback": 2, "event": 1},
                               by_language={"fr": 3, "ar": 1, "en": 1, "zh": 1})
    assert list(stats.by_intent) == ["speaker", "fallback", "event"]  # largest first
    assert log.stats(day, day) == ReplyStats(3, {"speaker": 2, "fallback": 1},
                                             {"ar": 1, "en": 1, "fr": 1})
    empty = day + timedelta(days=10)
    assert log.stats(empty, empty) == ReplyStats(0, {}, {})
    with pytest.raises(ValueError):
        log.stats(day, day - timedelta(days=1))


def test_purge_deletes_rows_older_than_the_retention(db, clock):
    log = QuestionLog(db, clock=clock, retention_days=30)
    log.record(question="old question", intent="fallback", lang="en", answered=False,
               closest=None)

    clock.advance(days=29)
    assert log.purge() == 0
    assert len(rows(db, "unanswered_questions", "id")) == 1
    assert len(rows(db, "reply_counts", "day")) == 1
    log.record(question="new question", intent="fallback", lang="fr", answered=False,
               closest=None)

    clock.advance(days=2)  # 31 days after the first question, 2 after the second
    assert log.purge() == 2
    assert [r["question"] for r in rows(db, "unanswered_questions", "id")] == ["new question"]
    assert [(as_day(r["day"]), r["lang"]) for r in rows(db, "reply_counts", "day")] == [
        ((T0 + timedelta(days=29)).date(), "fr")]
    assert log.purge() == 0


def test_many_threads_recording_the_same_question_lose_no_count(db):
    log = QuestionLog(db)
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def worker():
        try:
            start.wait()
            for _ in range(50):
                log.record(question="Where do I eat?", intent="fallback", lang="en",
                           answered=False, closest="fact:lunch")
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert [(q.question, q.count) for q in log.unanswered()] == [("where do i eat", 200)]
    assert sum(r["count"] for r in rows(db, "reply_counts", "day")) == 200


def test_question_log_rejects_bad_input(db, clock):
    log = QuestionLog(db, clock=clock)
    with pytest.raises(ValueError):
        log.record(question="q", intent="", lang="en", answered=False, closest=None)
    with pytest.raises(ValueError):
        log.record(question="q", intent="fallback", lang="x" * 17, answered=False,
                   closest=None)
    with pytest.raises(ValueError):
        log.unanswered(since=datetime(2024, 1, 1))  # naive: its zone is unknown
    with pytest.raises(ValueError):
        QuestionLog(db, clock=lambda: datetime(2024, 1, 1)).record(
            question="q", intent="fallback", lang="en", answered=False, closest=None)
    with pytest.raises(ValueError):
        QuestionLog(db, retention_days=0)
    assert rows(db, "reply_counts", "day") == []


# --- VersionLog -------------------------------------------------------------------------

def test_version_log_latest_and_ok_only(db, clock):
    log = VersionLog(db, clock=clock)
    assert log.latest() is None
    assert log.latest(ok_only=False) is None

    log.record(version="a1b2c3d4e5f6", git_commit="0" * 40, trigger="startup", ok=True,
               errors=0)
    clock.advance(minutes=3)
    log.record(version="ffffeeee0000", git_commit=None, trigger="/reload by admin 123",
               ok=False, errors=2)

    good = KnowledgeVersionRow(id=1, version="a1b2c3d4e5f6", git_commit="0" * 40,
                               trigger="startup", ok=True, errors=0, loaded_at=T0)
    bad = KnowledgeVersionRow(id=2, version="ffffeeee0000", git_commit=None,
                              trigger="/reload by admin 123", ok=False, errors=2,
                              loaded_at=T0 + timedelta(minutes=3))
    assert log.latest() == good
    assert log.latest(ok_only=False) == bad
    assert log.history() == [bad, good]
    assert log.history(ok_only=True) == [good]
    stored = rows(db, "knowledge_versions", "id")
    assert [(r["version"], bool(r["ok"]), r["errors"], as_time(r["loaded_at"]))
            for r in stored] == [("a1b2c3d4e5f6", True, 0, T0),
                                 ("ffffeeee0000", False, 2, T0 + timedelta(minutes=3))]
    with pytest.raises(ValueError):
        log.record(version="", git_commit=None, trigger="SIGHUP", ok=True, errors=0)
