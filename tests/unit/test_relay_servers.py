"""TAGFEED_NATS_URL names one NATS server or several of a cluster."""

import pytest

from tagfeed.relay.relaying import nats_servers


@pytest.mark.parametrize(
    ("url", "servers"),
    [
        ("nats://127.0.0.1:4222", ["nats://127.0.0.1:4222"]),
        (
            "nats://nats1:4222, nats://nats2:4222,nats://nats3:4222,",
            ["nats://nats1:4222", "nats://nats2:4222", "nats://nats3:4222"],
        ),
    ],
    ids=["one", "a-cluster"],
)
def test_servers_are_comma_separated(url: str, servers: list[str]) -> None:
    assert nats_servers(url) == servers
