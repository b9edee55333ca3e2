"""The per-channel pace: a full interval between the end of one call and the start of the next."""

from __future__ import annotations

import threading
from itertools import pairwise

from monitor.alerting.outbox import ChannelPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_calls_to_one_channel_start_an_interval_apart() -> None:
    clock = FakeClock()
    pacer = ChannelPacer(1.0, clock.sleep, clock.monotonic)
    starts = []
    for _ in range(3):
        with pacer.turn("#support"):
            starts.append(clock.now)
            clock.now += 0.05  # the HTTP round trip
    assert [round(b - a, 3) for a, b in pairwise(starts)] == [1.05, 1.05]


def test_a_call_slowed_by_the_clients_own_retry_delays_the_next_one() -> None:
    # slack_sdk sleeps out a 429's Retry-After (or a dropped connection) inside one call:
    # its last request leaves late, and the next message must not follow it at once
    clock = FakeClock()
    pacer = ChannelPacer(1.0, clock.sleep, clock.monotonic)
    with pacer.turn("#support"):
        clock.now += 1.2
    ended = clock.now
    with pacer.turn("#support"):
        started = clock.now
    assert started - ended == 1.0


def test_channels_do_not_wait_for_each_other() -> None:
    clock = FakeClock()
    pacer = ChannelPacer(1.0, clock.sleep, clock.monotonic)
    with pacer.turn("#support"):
        clock.now += 0.05
    with pacer.turn("#reviews"):
        pass
    assert clock.slept == []


def test_a_failed_call_still_counts_for_the_pace() -> None:
    clock = FakeClock()
    pacer = ChannelPacer(1.0, clock.sleep, clock.monotonic)
    try:
        with pacer.turn("#support"):
            raise ConnectionError("hung up")
    except ConnectionError:
        pass
    with pacer.turn("#support"):
        pass
    assert clock.slept == [1.0]


def test_pace_zero_never_waits() -> None:
    clock = FakeClock()
    pacer = ChannelPacer(0, clock.sleep, clock.monotonic)
    for _ in range(3):
        with pacer.turn("#support"):
            pass
    assert clock.slept == []


def test_two_lanes_never_call_one_channel_at_the_same_time() -> None:
    # A thread reply or a quiet-hours fallback can bring a second lane to a channel: its call
    # waits until the first one has ended, however long that takes.
    pacer = ChannelPacer(0.0)
    first_in, first_may_end, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with pacer.turn("#support"):
            first_in.set()
            first_may_end.wait(10)

    def second() -> None:
        with pacer.turn("#support"):
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_in.wait(10)
    threads[1].start()
    assert not second_in.wait(0.3), "the second call started while the first was in flight"
    first_may_end.set()
    assert second_in.wait(10)
    for thread in threads:
        thread.join(10)
