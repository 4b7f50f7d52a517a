"""The sweeper racing a retry delivery on the same pending lead (issue 21): the scheduled SweeperFunction and
RetryFunction delivering the lead's message, in OS processes released together, against one moto server.

The sweeper takes the lead with the same conditional lease a delivery takes before it requeues it, so an
attempt is never overtaken by a requeue of itself. Per round, once every message the race left on the queue
is delivered: TrustedForm was called twice for the lead (the intake's 503 and one retry: 0 double calls), it
is retained with two attempts, and its chain holds no ``overtaken`` entry.

The containers' clocks read one instant past the lead's time to be checked (its pending grace): the sweeper
finds it overdue, and every container judges the leases by the same clock.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.support.concurrency import Backend, LambdaPool, Outcome, Task, pending_lead

# How far ahead of the real clock the racers' clock reads: past the pending grace (15 minutes by default).
AHEAD = timedelta(hours=1)
# The deliveries leave this much after the sweepers, round by round (the double retains came with the
# delivery 23-27 ms behind the sweeper): every interleaving of the sweeper's read, lease and requeue with the
# delivery's lease gets its turn.
DELIVERY_LAGS = (0.0, 0.01, 0.02, 0.025, 0.03, 0.05)
DRAIN_SECONDS = 20.0  # how long to wait for a message the race left on the queue
REQUEUE_WAIT = 2.0  # how long to look for a requeued message before handing an in-flight one out again


@dataclass
class RoundResult:
    lead_id: str
    outcomes: list[Outcome]
    lag: float = 0.0
    failed_sweeps: int = 0
    calls: int = 0  # TrustedForm POSTs for the lead's certificate (2 expected)
    delivered_after: int = 0  # messages the race left on the queue, delivered after it
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        labels = dict(Counter(outcome.label() for outcome in self.outcomes))
        line = (
            f"lead {self.lead_id} (delivery {self.lag * 1000:.0f} ms later): {self.calls} TrustedForm call(s), "
            f"{self.delivered_after} left on the queue, {self.failed_sweeps} sweep(s) failed, {labels}"
        )
        return "\n".join([line, *(f"  PROBLEM: {problem}" for problem in self.problems)])


def race_round(backend: Backend, pool: LambdaPool, lag: float = 0.0) -> RoundResult:
    """Half the containers sweep, half deliver the lead's retry message ``lag`` seconds later."""
    cert_id, lead_id, message = pending_lead(backend, pool, f"sweep-race-{uuid.uuid4().hex[:10]}")
    clock = (datetime.now(UTC) + AHEAD).isoformat()
    event = backend.poller.event([message])
    half = pool.size // 2
    delivery = Task("retry", {"event": event, "clock": clock, "delay": lag})
    tasks = [Task("sweep", {"clock": clock})] * half + [delivery] * half
    outcomes = pool.run(tasks)
    result = RoundResult(lead_id, outcomes, lag)
    # A delivery must not fail. A sweep that fails is the next scheduled sweep's to do again, and not what is
    # raced here: at 25+25 one moto server serialises fifty containers, and the sweeper's overdue-lead query
    # reads its whole table (moto has no index of its own), past the client's read timeout now and then.
    result.problems += [f"{o.kind} failed: {o.error}" for o in outcomes if o.error and o.kind != "sweep"]
    result.failed_sweeps = sum(1 for o in outcomes if o.error and o.kind == "sweep")
    # What the race left: the delivery told to come back, a requeued message; each delivered until the lead
    # is final (a later delivery of an attempt already made is a duplicate, done with nothing sent). A
    # delivery that answered "redeliver" left its message in flight: SQS hands it out again once its
    # visibility timeout passes (minutes), so it is delivered again here when nothing else is on the queue.
    in_flight = [message] if any(o.label() == "retry: redeliver" for o in outcomes) else []
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        lead = backend.reader.get_lead(lead_id)
        if lead is not None and lead.status.is_final:
            break
        try:
            wait = REQUEUE_WAIT if in_flight else max(0.5, deadline - time.monotonic())
            left = backend.retry_message(lead_id, timeout=wait)
        except TimeoutError:
            if not in_flight:
                break
            left = in_flight.pop()
        later = (datetime.now(UTC) + AHEAD * 2).isoformat()  # past any lease the race took
        [done] = pool.run([Task("retry", {"event": backend.poller.event([left]), "clock": later})], together=False)
        result.delivered_after += 1
        if done.error:
            result.problems.append(f"a later delivery failed: {done.error}")
    check(backend, result, cert_id)
    return result


def check(backend: Backend, result: RoundResult, cert_id: str) -> None:
    expect = result.problems.append
    posts = backend.posts(cert_id)
    result.calls = len(posts)
    if result.calls != 2:
        expect(f"TrustedForm was called {result.calls} times for the lead, not 2 (the intake's and one retry)")
    if sum(post["status"] == 200 for post in posts) != 1:
        expect(f"{sum(post['status'] == 200 for post in posts)} retains")
    record = backend.reader.read_lead(result.lead_id)
    if record is None:
        expect("the lead is not stored")
        return
    if record.lead.status.value != "retained" or record.lead.attempts != 2:
        expect(f"the lead is {record.lead.status.value} after {record.lead.attempts} attempts, not retained after 2")
    kinds = Counter(event.type for event in record.history)
    if kinds["overtaken"]:
        expect(f"{kinds['overtaken']} attempt(s) recorded as overtaken")
    if kinds["attempt"] != 2:
        expect(f"the history holds {kinds['attempt']} attempts, not 2")


def run_rounds(backend: Backend, pool: LambdaPool, rounds: int) -> list[RoundResult]:
    return [race_round(backend, pool, DELIVERY_LAGS[n % len(DELIVERY_LAGS)]) for n in range(rounds)]
