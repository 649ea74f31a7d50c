"""The README's configuration table names every setting tagfeed reads, and nothing else:
a setting added to ``config.py`` without a line there fails here."""

import re
from pathlib import Path

from tagfeed.config import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_variables() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Configuration") : text.index("## Read more")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    first_cells = [row.split("|")[1] for row in rows]
    return {name for cell in first_cells for name in re.findall(r"`(TAGFEED_[A-Z_]+)`", cell)}


def test_every_setting_has_a_row_and_every_row_a_setting() -> None:
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert _table_variables() == settings
