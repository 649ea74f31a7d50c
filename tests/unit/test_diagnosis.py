"""explain(): the driver's error found under the wrappers, said in one line."""

import asyncpg

from tagfeed.store.diagnosis import explain
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.urls import parse_database_url

URL = parse_database_url("postgresql://app:s3cret@db.example:6543/feed")


def wrapped(cause: BaseException) -> StoreUnavailable:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise StoreUnavailable("cannot connect") from exc
    except StoreUnavailable as outer:
        return outer


def test_the_drivers_error_is_found_under_the_wrapper() -> None:
    problem = explain(URL, wrapped(asyncpg.InvalidCatalogNameError('database "feed" ...')))
    assert str(problem) == (
        "TAGFEED_DATABASE_URL=postgresql://app:***@db.example:6543/feed: database"
        ' "feed" does not exist on db.example:6543: create it'
        " (createdb -h db.example -p 6543 -U app feed) or name an existing one"
    )


def test_a_refused_password_names_the_user_not_the_password() -> None:
    problem = str(explain(URL, wrapped(asyncpg.InvalidPasswordError("password failed"))))
    assert "refused the password of user 'app'" in problem
    assert "s3cret" not in problem


def test_an_unknown_error_is_still_one_line() -> None:
    problem = str(explain(URL, RuntimeError("first\nsecond\nthird")))
    assert (
        problem
        == "TAGFEED_DATABASE_URL=postgresql://app:***@db.example:6543/feed: RuntimeError: first"
    )
