"""The fence's decisions (deploy/fence/fence.py): act only on a node the power switch says
is off, and only on the very leader key read before asking it. The fence runs in its own
image; it is loaded here from its file. Its effect on a real cluster is measured by
`make chaos` (the node lost, fenced; the node cut off, not fenced)."""

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FENCE = Path(__file__).resolve().parents[2] / "deploy" / "fence" / "fence.py"
SCOPE = "/service/tagfeed"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fence", FENCE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fence = _load()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


@pytest.mark.parametrize(
    ("states", "power"),
    [
        ([{"Status": "exited", "Running": False, "ExitCode": 137}], "off"),
        ([{"Status": "dead", "Running": False}], "off"),
        ([{"Status": "running", "Running": True}], "on"),
        # A restart policy (or a service manager) is bringing it back: not off.
        ([{"Status": "restarting", "Running": False, "Restarting": True}], "on"),
        # Frozen processes may thaw and write: not off.
        ([{"Status": "paused", "Running": True, "Paused": True}], "on"),
        ([{"Status": "created", "Running": False}], "unknown"),
        ([{"Status": "removing", "Running": False}], "unknown"),
        ([], "unknown"),  # no such node: a wrong name must not fence anything
        ([{"Status": "exited"}, {"Status": "exited"}], "unknown"),
    ],
)
def test_only_a_stopped_node_is_off(states: list[dict[str, Any]], power: str) -> None:
    assert fence.power_of(states) == power


def leader(name: str = "pg1", revision: int = 40) -> Any:
    return fence.Key(name, revision)


def sync(value: dict[str, Any] | str, revision: int = 30) -> Any:
    return fence.Key(value if isinstance(value, str) else json.dumps(value), revision)


def test_the_release_holds_only_for_the_key_that_was_read() -> None:
    txn = fence.release(SCOPE, leader("pg1", 40), sync({"leader": "pg1", "sync_standby": "pg2"}))
    compares = {(unb64(c["key"]), c["target"]): c for c in txn["compare"]}
    assert compares[(f"{SCOPE}/leader", "MOD")]["mod_revision"] == "40"
    assert unb64(compares[(f"{SCOPE}/leader", "VALUE")]["value"]) == "pg1"
    assert compares[(f"{SCOPE}/sync", "MOD")]["mod_revision"] == "30"


def test_the_dead_primary_leaves_sync_and_the_members_and_the_leader_key_goes_last() -> None:
    txn = fence.release(SCOPE, leader("pg1"), sync({"leader": "pg1", "sync_standby": "pg2"}))
    puts = [op["request_put"] for op in txn["success"] if "request_put" in op]
    deletes = [
        unb64(op["request_delete_range"]["key"])
        for op in txn["success"]
        if "request_delete_range" in op
    ]
    assert [unb64(p["key"]) for p in puts] == [f"{SCOPE}/sync"]
    # The standby that may be promoted is the same; only the dead node no longer counts.
    assert json.loads(unb64(puts[0]["value"])) == {"leader": "pg2", "sync_standby": "pg2"}
    assert deletes == [f"{SCOPE}/members/pg1", f"{SCOPE}/leader"]
    assert "request_delete_range" in txn["success"][-1]


@pytest.mark.parametrize(
    "state",
    [
        {"leader": "pg3", "sync_standby": "pg2"},  # written for another primary
        {"leader": "pg1", "sync_standby": None},  # no synchronous standby
        "{not json",
    ],
)
def test_sync_is_left_alone_unless_it_names_the_dead_primary_and_a_standby(
    state: dict[str, Any] | str,
) -> None:
    txn = fence.release(SCOPE, leader("pg1"), sync(state))
    assert not [op for op in txn["success"] if "request_put" in op]
    assert all(unb64(c["key"]) == f"{SCOPE}/leader" for c in txn["compare"])


class FakeEtcd:
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.txns: list[dict[str, Any]] = []

    def get(self, key: str) -> Any:
        return self.keys.get(key)

    def txn(self, body: dict[str, Any]) -> bool:
        self.txns.append(body)
        return True


class FakeEngine:
    def __init__(self, power: str) -> None:
        self.answer = power
        self.asked: list[str] = []

    def power(self, member: str) -> tuple[str, str]:
        self.asked.append(member)
        return self.answer, f"{member} is {self.answer}"


@pytest.mark.parametrize(("power", "released"), [("off", True), ("on", False), ("unknown", False)])
def test_a_round_releases_only_a_leader_whose_node_is_off(power: str, released: bool) -> None:
    etcd = FakeEtcd({f"{SCOPE}/leader": leader("pg1", 7)})
    engine = FakeEngine(power)
    fence.check(etcd, engine, SCOPE, {})
    assert engine.asked == ["pg1"]
    assert bool(etcd.txns) is released
    if released:
        assert etcd.txns[0]["compare"][0]["mod_revision"] == "7"


def test_no_leader_key_no_question_to_the_engine() -> None:
    engine = FakeEngine("off")
    etcd = FakeEtcd({})
    fence.check(etcd, engine, SCOPE, {})
    assert engine.asked == []
    assert etcd.txns == []
