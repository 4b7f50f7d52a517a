"""What the fault mode injects, and how often: parsed from ``--aws-faults=SPEC`` / ``AWS_FAULTS=SPEC``
(local/faults.py says what each fault is)."""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_SPEC = "conflict:0.05,throttle:0.05,lost-answer:0.01,duplicate:0.1,stale-index:2s,kill:0.002"
# The functions behind the API: a kill there is API Gateway's 502 to the vendor (or the buyer's system that
# records a revocation: ConsentFunction, which also applies the revocations left over, on its schedule).
API_FUNCTIONS = frozenset({"AuthorizerFunction", "IntakeFunction", "ConsentFunction"})
KILLABLE = frozenset(
    {
        "RetryFunction",
        "SweeperFunction",
        "PublisherFunction",
        "AnchorFunction",
        "CallbackFunction",
        "HoldFunction",
        "ArchiverFunction",
        "AutoSuspendFunction",
    }
)


@dataclass(frozen=True)
class FaultPlan:
    conflict: float = 0.0
    throttle: float = 0.0
    lost_answer: float = 0.0
    duplicate: float = 0.0
    stale_index: float = 0.0  # seconds
    kill: float = 0.0
    kill_functions: frozenset[str] = KILLABLE
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """``conflict:0.05,throttle:0.05,duplicate:0.1,stale-index:2s,kill:0.002`` (any subset); raises
        ValueError naming what it cannot read."""
        plan = cls()
        for part in (part.strip() for part in spec.split(",")):
            if not part:
                continue
            name, _, value = part.partition(":")
            name = name.strip().replace("-", "_")
            if name == "kill_functions":
                chosen = frozenset(f.strip() for f in value.split("+") if f.strip())
                plan = replace(plan, kill_functions=KILLABLE | API_FUNCTIONS if chosen == {"all"} else chosen)
            elif name == "seed":
                plan = replace(plan, seed=int(value))
            elif name == "stale_index":
                plan = replace(plan, stale_index=_seconds(value))
            elif name in ("conflict", "throttle", "lost_answer", "duplicate", "kill"):
                try:
                    rate = float(value)
                except ValueError:
                    raise ValueError(f"{part}: a rate is a number from 0 to 1") from None
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"{part}: a rate is from 0 to 1")
                plan = _with_rate(plan, name, rate)
            else:
                raise ValueError(
                    f"{part!r}: not a fault (conflict, throttle, lost-answer, duplicate, stale-index, kill, ...)"
                )
        return plan

    @property
    def active(self) -> bool:
        return any((self.conflict, self.throttle, self.lost_answer, self.duplicate, self.stale_index, self.kill))

    def describe(self) -> str:
        if not self.active:
            return "off"
        parts = [f"conflict {self.conflict:g}", f"throttle {self.throttle:g}", f"lost answer {self.lost_answer:g}"]
        parts.append(f"duplicate {self.duplicate:g}")
        parts += [f"stale index {self.stale_index:g} s", f"kill {self.kill:g}"]
        if self.kill:
            parts[-1] += f" ({'+'.join(sorted(self.kill_functions))})"
        return ", ".join(parts)


def _seconds(value: str) -> float:
    value = value.strip().lower()
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    return float(value.removesuffix("s"))


def _with_rate(plan: FaultPlan, name: str, rate: float) -> FaultPlan:
    return replace(
        plan,
        conflict=rate if name == "conflict" else plan.conflict,
        throttle=rate if name == "throttle" else plan.throttle,
        lost_answer=rate if name == "lost_answer" else plan.lost_answer,
        duplicate=rate if name == "duplicate" else plan.duplicate,
        kill=rate if name == "kill" else plan.kill,
    )
