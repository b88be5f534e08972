"""Reconnect timing: full-jitter backoff, healthy reset, Binance refusals, the shared budget."""

from __future__ import annotations

import random
import statistics

import pytest

from ingest.backoff import (
    BUDGET_ATTEMPTS,
    BUDGET_WINDOW,
    IP_BANNED_WAIT,
    TOO_MANY_REQUESTS_WAIT,
    AttemptBudget,
    ReconnectPolicy,
    full_jitter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_exponentially_up_to_the_cap_with_full_jitter():
    policy = ReconnectPolicy(base=1.0, cap=60.0, rng=random.Random(1))
    ceilings = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    for ceiling in ceilings:
        delay = policy.next_delay()
        assert 0.0 <= delay <= ceiling
    # Full jitter: spread over the whole range, not clustered at the ceiling.
    samples = []
    for _ in range(2000):
        policy.attempt = 10
        samples.append(policy.next_delay())
    assert 25 < statistics.mean(samples) < 35
    assert min(samples) < 3
    assert max(samples) > 57


def test_retrying_forever_keeps_drawing_delays_within_the_cap():
    # 2.0**1024 overflows: a loop that never gives up must not die at its 1024th attempt.
    policy = ReconnectPolicy(base=1.0, cap=60.0, rng=random.Random(3))
    policy.attempt = 1020
    assert all(0.0 <= policy.next_delay() <= 60.0 for _ in range(10))
    rng = random.Random(4)
    assert all(0.0 <= full_jitter(rng, 0.1, 5.0, attempt) <= 5.0
               for attempt in (0, 1023, 1024, 10**6))
    assert full_jitter(random.Random(5), 0.1, 5.0, 0) <= 0.1


def test_the_counter_resets_only_after_a_healthy_period():
    policy = ReconnectPolicy(healthy_after=60.0, rng=random.Random(2))
    for _ in range(5):
        policy.next_delay()
    policy.connected(now=100.0)
    policy.disconnected(now=130.0)  # dropped after 30 s: not healthy yet
    assert policy.attempt == 5
    policy.connected(now=200.0)
    policy.disconnected(now=260.0)  # a full healthy minute
    assert policy.attempt == 0


def test_a_disconnect_without_a_connection_keeps_the_counter():
    policy = ReconnectPolicy(rng=random.Random(3))
    policy.next_delay()
    policy.disconnected(now=1e9)
    assert policy.attempt == 1


@pytest.mark.parametrize(
    ("status", "retry_after", "at_least"),
    [(429, 7.0, 7.0), (418, 120.0, 120.0), (429, None, TOO_MANY_REQUESTS_WAIT),
     (418, None, IP_BANNED_WAIT), (None, 3.0, 3.0)],
)
def test_binance_refusals_are_honoured(status, retry_after, at_least):
    policy = ReconnectPolicy(base=0.001, cap=0.001, rng=random.Random(4))
    assert policy.next_delay(status=status, retry_after=retry_after) >= at_least


def test_the_budget_allows_a_burst_then_paces():
    clock = FakeClock()
    budget = AttemptBudget(limit=30, window=300.0, burst=10, clock=clock)
    assert [budget.reserve() for _ in range(10)] == [0.0] * 10
    waits = [budget.reserve() for _ in range(3)]
    assert waits == pytest.approx([15.0, 30.0, 45.0])  # 20 attempts per 300 s after the burst


def test_the_budget_bounds_every_window_under_constant_failure():
    """An hour of many connections failing at once: no 5-minute window over the limit."""
    clock = FakeClock()
    budget = AttemptBudget(clock=clock)
    rng = random.Random(5)
    policies = [ReconnectPolicy(base=0.5, cap=30.0, rng=rng) for _ in range(8)]
    next_try = [clock.now] * len(policies)
    attempts: list[float] = []
    end = clock.now + 3600
    while True:
        index = min(range(len(policies)), key=lambda i: next_try[i])
        clock.now = next_try[index]
        if clock.now > end:
            break
        wait = budget.reserve()
        attempts.append(clock.now + wait)  # the attempt starts after the budget's wait
        next_try[index] = clock.now + wait + policies[index].next_delay()  # and fails again
    attempts.sort()
    worst = max(
        sum(1 for t in attempts if start <= t < start + BUDGET_WINDOW) for start in attempts
    )
    assert worst <= BUDGET_ATTEMPTS < 300 / 5  # far below Binance's 300 per 5 minutes
    assert len(attempts) > 100  # the service kept trying all hour


def test_the_budget_refills_while_idle():
    clock = FakeClock()
    budget = AttemptBudget(limit=30, window=300.0, burst=10, clock=clock)
    for _ in range(10):
        budget.reserve()
    clock.now += 300.0
    assert [budget.reserve() for _ in range(10)] == [0.0] * 10


def test_a_burst_must_be_below_the_limit():
    with pytest.raises(ValueError, match="burst"):
        AttemptBudget(limit=5, window=10.0, burst=5)
