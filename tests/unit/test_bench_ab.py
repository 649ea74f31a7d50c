"""bench.ab's command line: B's setting, or another tree's tagfeed for A; neither is a
usage error before anything starts."""

import pytest

from bench.ab import main


@pytest.mark.parametrize(
    "argv",
    [[], ["METRICS=false"], ["TAGFEED_METRICS="]],
)
def test_a_comparison_needs_a_setting_or_another_tree(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "bench.ab:" in capsys.readouterr().err
