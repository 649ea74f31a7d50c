"""PostgreSQL: the read statements, each built once per call from the query's parts with
numbered parameters (``$1``...), and a row turned into a ``Message``."""

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from tagfeed.domain.counting import ALL_TAGS, Piece
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter

_COLUMNS = "id::text, text, tag, user_id, created_at"
GET_QUERY = f"SELECT {_COLUMNS} FROM messages WHERE id = $1::uuid"


def to_message(row: asyncpg.Record) -> Message:
    return Message(row[0], row[1], row[2], row[3], row[4])


def _where(where: MessageFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if where.tag is not None:
        params.append(where.tag)
        clauses.append(f"tag = ${len(params)}")
    if where.period.start is not None:
        params.append(where.period.start)
        clauses.append(f"created_at >= ${len(params)}")
    if where.period.end is not None:
        params.append(where.period.end)
        clauses.append(f"created_at < ${len(params)}")
    return clauses, params


def page_query(where: MessageFilter, page: PageRequest) -> tuple[str, list[object]]:
    clauses, params = _where(where)
    if page.after is not None:
        params += [page.after.created_at, page.after.id]
        clauses.append(f"(created_at, id) < (${len(params) - 1}, ${len(params)}::uuid)")
    sql = f"SELECT {_COLUMNS} FROM messages"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    params.append(page.limit)
    # Qualified: a bare "id" would name the id::text output column and defeat the index.
    return (
        sql + f" ORDER BY messages.created_at DESC, messages.id DESC LIMIT ${len(params)}",
        params,
    )


def pieces_query(tag: str | None, pieces: Sequence[Piece]) -> tuple[str, list[object]]:
    """One statement summing every piece: raw pieces count messages, others sum counters."""
    parts: list[str] = []
    params: list[object] = []
    for piece in pieces:
        if piece.span is None:
            where = f"created_at >= ${len(params) + 1} AND created_at < ${len(params) + 2}"
            params += [piece.start, piece.end]
            if tag is not None:
                params.append(tag)
                where += f" AND tag = ${len(params)}"
            parts.append(f"(SELECT count(*) FROM messages WHERE {where})")
        else:
            n = len(params)
            parts.append(
                "(SELECT coalesce(sum(n), 0) FROM message_counts"
                f" WHERE tag = ${n + 1} AND span = ${n + 2} AND start >= ${n + 3}"
                f" AND start < ${n + 4})"
            )
            params += [
                ALL_TAGS if tag is None else tag,
                int(piece.span.total_seconds()),
                piece.start,
                piece.end,
            ]
    return "SELECT (" + (" + ".join(parts) or "0") + ")::bigint", params


def series_query(
    tag: str | None, step: timedelta, start: datetime, end: datetime
) -> tuple[str, list[object]]:
    if step >= timedelta(hours=1):
        return (
            "SELECT start, sum(n)::bigint FROM message_counts"
            " WHERE tag = $1 AND span = $2 AND start >= $3 AND start < $4 GROUP BY start",
            [ALL_TAGS if tag is None else tag, int(step.total_seconds()), start, end],
        )
    where = "created_at >= $2 AND created_at < $3" + (" AND tag = $4" if tag else "")
    return (
        "SELECT date_bin($1::interval, created_at, timestamptz 'epoch') AS bucket, count(*)"
        f" FROM messages WHERE {where} GROUP BY bucket",
        [step, start, end, *([tag] if tag else [])],
    )
