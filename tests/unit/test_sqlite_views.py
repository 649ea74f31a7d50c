"""The order a rebuild writes the messages view in: the table's own, (tag, created_at,
id), so that a fresh table only grows at its end."""

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.ids import EPOCH
from tagfeed.domain.model import Message
from tagfeed.store.sqlite_views import TableOrder, row_from_message

rows = st.lists(
    st.builds(
        lambda id_, tag, minutes: Message(
            str(id_), "t", tag, "u", EPOCH + timedelta(minutes=minutes)
        ),
        st.uuids(),
        st.sampled_from(["b", "a", "ab", "é", "Z"]),
        st.integers(-5, 5),
    ),
    max_size=40,
)


@given(rows, st.integers(0, 40))
def test_rows_come_out_in_the_tables_key_order(messages: list[Message], cut: int) -> None:
    order = TableOrder()
    order.add(messages[:cut])
    order.add(iter(messages[cut:]))
    assert order.rows == len(messages)
    # Python compares str by code point, as SQLite's BINARY collation compares UTF-8.
    expected = sorted(map(row_from_message, messages), key=lambda r: (r[2], r[4], r[0]))
    assert order.take() == expected
    assert (order.take(), order.rows) == ([], 0)
