"""What the fault tests found, added up across the session for ``make faults``'s
summary line (printed by this directory's conftest)."""

from dataclasses import dataclass, field

from tests.faults.fault_client import Verdict


@dataclass
class Tally:
    rounds: dict[str, list[bool]] = field(default_factory=dict)  # backend -> ok per round
    lost: int = 0
    duplicates: int = 0
    messages: int = 0
    replayed: int = 0  # stored before a kill, unanswered, then replayed by a retry
    server_errors: int = 0  # 5xx other than 503, anywhere
    tests: dict[str, str] = field(default_factory=dict)  # node id -> outcome
    # SIGKILLs of a log follower (relay, reducer) by what and backend, e.g. "relay-sqlite"
    kills: dict[str, int] = field(default_factory=dict)

    def add_round(self, backend: str, verdict: Verdict, replayed: int) -> None:
        self.rounds.setdefault(backend, []).append(verdict.ok)
        self.lost += verdict.lost + verdict.missing
        self.duplicates += verdict.duplicates
        self.messages += verdict.logical
        self.replayed += replayed

    def add_messages(self, verdict: Verdict) -> None:
        """A verdict from outside the kill rounds: its losses and duplicates count too."""
        self.lost += verdict.lost + verdict.missing
        self.duplicates += verdict.duplicates
        self.messages += verdict.logical

    def kill(self, what: str, times: int) -> None:
        """``what`` was SIGKILLed ``times`` times, and every event was found once after."""
        self.kills[what] = self.kills.get(what, 0) + times

    def line(self) -> str:
        rounds = ", ".join(
            f"{backend} {sum(oks)}/{len(oks)} rounds" for backend, oks in self.rounds.items()
        )
        passed = sum(outcome == "passed" for outcome in self.tests.values())
        kills = ", ".join(f"{what} {times}" for what, times in self.kills.items())
        return (
            f"faults: {rounds or 'no kill rounds'}, {self.lost} acknowledged lost,"
            f" {self.duplicates} duplicates, {self.messages} messages"
            f" ({self.replayed} replayed after a kill), {self.server_errors} 5xx other than 503,"
            f" followers killed ({kills or 'none'}) with every event found once after,"
            f" {passed}/{len(self.tests)} fault tests passed"
        )


TALLY = Tally()
