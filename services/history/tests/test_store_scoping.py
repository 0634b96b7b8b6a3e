"""Mechanical checks of the storage rules: SQL lives in store/, scoped by user."""

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

from history.store import attachments, feedback, items, runs, tasks, threads
from shared.history_api import RunBeat, RunHeartbeats

PACKAGE = Path(__file__).resolve().parents[1] / "history"
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b")
USER_MODULES = [threads, items, feedback, runs, attachments, tasks]
# Store modules that hold no statement on a user's behalf: the readiness ping,
# the error types, and the reap sweep over every user's expired runs.
UNSCOPED_MODULES = {"health", "errors", "reaper"}
# Store functions whose every entry names its own user (a worker's batch holds
# many users' runs): their statements still filter each row by that user_id.
PER_ENTRY_USER = {runs.heartbeats}


def _statements(module: ModuleType) -> dict[str, str]:
    # Whole statements: upper-case constants, and the prebuilt page queries;
    # *_CLAUSE fragments only ever appear inside one of those.
    found = {}
    for name, value in vars(module).items():
        if not name.isupper() or name.endswith("_CLAUSE"):
            continue
        texts = value.values() if isinstance(value, dict) else [value]
        for n, text in enumerate(texts):
            if isinstance(text, str) and SQL.search(text):
                found[f"{name}[{n}]"] = text
    return found


@pytest.mark.parametrize("module", USER_MODULES, ids=lambda module: module.__name__)
def test_every_statement_on_user_data_filters_by_user(module: ModuleType) -> None:
    statements = _statements(module)

    assert statements
    unscoped = [name for name, sql in statements.items() if "user_id" not in sql]
    assert unscoped == []


@pytest.mark.parametrize("module", USER_MODULES, ids=lambda module: module.__name__)
def test_every_public_store_function_takes_the_user(module: ModuleType) -> None:
    functions = [
        function
        for name, function in inspect.getmembers(module, inspect.iscoroutinefunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    ]

    assert functions
    assert all(
        "user_id" in inspect.signature(f).parameters
        for f in functions
        if f not in PER_ENTRY_USER
    )


def test_a_batch_store_function_takes_a_user_with_every_entry() -> None:
    assert RunHeartbeats.model_fields["runs"].annotation == list[RunBeat]
    assert "user_id" in RunBeat.model_fields
    assert "(runs.id, runs.user_id, runs.fencing_token)" in runs.HEARTBEATS


def test_every_store_module_is_user_scoped_or_a_named_exception() -> None:
    store_modules = {
        path.stem
        for path in (PACKAGE / "store").glob("*.py")
        if path.stem != "__init__"
    }
    scoped = {module.__name__.rsplit(".", 1)[-1] for module in USER_MODULES}

    assert store_modules - scoped == UNSCOPED_MODULES


def test_no_sql_outside_the_store_package() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "store" not in path.relative_to(PACKAGE).parts
        and path.name != "migrate.py"
        and SQL.search(path.read_text())
    ]

    assert offenders == []
