"""SingleFlight: one make per version however many threads ask, a rate bound, one
low-priority worker, errors shared, a bounded wait."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from crowdsafe.errors import ServiceBusy
from crowdsafe.livecache import SingleFlight


class FakeEncoder:
    """Counts its calls and the most that ran at once; each call waits for ``gate``."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def make(self, label: str) -> bytes:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            assert self.gate.wait(30), "the test never opened the gate"
            return f"jpeg of {label}".encode()
        finally:
            with self._lock:
                self.running -= 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache() -> Iterator[SingleFlight[bytes]]:
    flight: SingleFlight[bytes] = SingleFlight(wait_s=30)
    yield flight
    flight.close()


def _ask_together(n: int, ask: Callable[[int], object]) -> list[object]:
    """``ask(i)`` from ``n`` threads released at once; results (or exceptions) by ``i``."""
    start = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = ask(i)
        except Exception as exc:  # kept, so the test can assert on it
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


class AllAsked:
    """A make whose first call returns (or raises) only once ``n`` threads have said they
    ask, so that the askers overlap it; later calls answer at once."""

    def __init__(self, n: int, result: bytes | Exception) -> None:
        self.n, self.result, self.calls = n, result, 0
        self._asked = threading.Semaphore(0)

    def asking(self) -> None:
        self._asked.release()

    def make(self) -> bytes:
        self.calls += 1
        for _ in range(self.n if self.calls == 1 else 0):
            assert self._asked.acquire(timeout=30)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_many_threads_asking_for_one_frame_share_one_encoding(
    cache: SingleFlight[bytes],
) -> None:
    one = AllAsked(32, b"jpeg of frame 7")

    def ask(i: int) -> bytes:
        one.asking()
        return cache.get("cam1", 7, one.make)

    results = _ask_together(32, ask)
    assert one.calls == 1
    assert all(r == b"jpeg of frame 7" for r in results)
    assert len({id(r) for r in results}) == 1  # the very same bytes, not copies
    assert cache.made == 1
    # a later caller for the same frame gets it from the cache
    assert cache.get("cam1", 7, lambda: b"made again") == b"jpeg of frame 7"
    assert cache.made == 1


def test_each_new_frame_is_encoded_once_and_only_the_latest_is_kept(
    cache: SingleFlight[bytes],
) -> None:
    encoder = FakeEncoder()
    for version in range(1, 6):
        for _ in range(3):
            got = cache.get("cam1", version, lambda v=version: encoder.make(f"frame {v}"))
            assert got == f"jpeg of frame {version}".encode()
    assert encoder.calls == 5
    assert cache.cached("cam1", 5) == b"jpeg of frame 5"
    assert cache.cached("cam1", 4) is None  # older frames' bytes are not kept
    # an older version than the cached one is served the newer image, not remade
    assert cache.get("cam1", 3, lambda: encoder.make("old")) == b"jpeg of frame 5"
    assert encoder.calls == 5


def test_a_camera_is_encoded_at_most_at_its_rate_bound() -> None:
    clock = Clock()
    encoder = FakeEncoder()
    cache: SingleFlight[bytes] = SingleFlight(min_interval_s=0.2, clock=clock)
    try:
        assert cache.get("cam1", 1, lambda: encoder.make("frame 1")) == b"jpeg of frame 1"
        clock.now += 0.1  # frame 2 arrives 0.1 s later: too soon, frame 1 is served
        assert cache.get("cam1", 2, lambda: encoder.make("frame 2")) == b"jpeg of frame 1"
        assert encoder.calls == 1
        clock.now += 0.1  # 0.2 s after frame 1 was started: frame 2 may be made
        assert cache.get("cam1", 2, lambda: encoder.make("frame 2")) == b"jpeg of frame 2"
        assert encoder.calls == 2
        # the bound is per camera: another camera is not held back by this one
        assert cache.get("cam2", 1, lambda: encoder.make("cam2")) == b"jpeg of cam2"
        assert encoder.calls == 3
    finally:
        cache.close()


def test_the_worker_rests_so_that_it_is_busy_at_most_max_busy_of_the_time() -> None:
    clock = Clock()
    cache: SingleFlight[str] = SingleFlight(max_busy=0.25, clock=clock)

    def slow(label: str) -> str:  # takes 0.1 s of the clock
        clock.now += 0.1
        return label

    try:
        assert cache.get("cam1", 1, lambda: slow("cam1 v1")) == "cam1 v1"
        # 0.1 s of work at max_busy 0.25: 0.3 s of rest, for every camera
        clock.now += 0.29
        assert cache.get("cam1", 2, lambda: slow("cam1 v2")) == "cam1 v1"
        assert cache.get("cam2", 1, lambda: slow("cam2 v1")) == "cam2 v1"  # a first image is
        assert cache.made == 2  # made at once: there is nothing older to show
        clock.now += 0.29
        assert cache.get("cam1", 2, lambda: slow("cam1 v2")) == "cam1 v1"
        clock.now += 0.02  # 0.3 s after cam2's image: the worker may work again
        assert cache.get("cam1", 2, lambda: slow("cam1 v2")) == "cam1 v2"
        assert cache.made == 3
    finally:
        cache.close()


def test_cameras_are_encoded_one_at_a_time_on_one_worker(cache: SingleFlight[bytes]) -> None:
    encoder = FakeEncoder()
    results = _ask_together(12, lambda i: cache.get(f"cam{i % 6}", 1, lambda: encoder.make("x")))
    assert all(r == b"jpeg of x" for r in results)
    assert encoder.calls == 6  # one per camera
    assert encoder.most_at_once == 1
    assert len(encoder.threads) == 1 and next(iter(encoder.threads)).startswith("live-view")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_worker_runs_at_a_lower_priority() -> None:
    cache: SingleFlight[int] = SingleFlight(nice=5)
    try:
        worker_nice = cache.get("cam1", 1, lambda: os.nice(0))
    finally:
        cache.close()
    assert worker_nice == min(os.nice(0) + 5, 19)


def test_an_encoder_error_reaches_every_waiter_and_the_next_ask_retries(
    cache: SingleFlight[bytes],
) -> None:
    broken = AllAsked(8, OSError("encoder failed"))

    def ask(i: int) -> bytes:
        broken.asking()
        return cache.get("cam1", 1, broken.make)

    results = _ask_together(8, ask)
    # (a thread that asks just after the failure starts a new try, which fails too)
    assert all(isinstance(r, OSError) and "encoder failed" in str(r) for r in results)
    assert cache.get("cam1", 1, lambda: b"fine") == b"fine"  # nothing bad was cached


def test_a_waiter_gives_up_after_wait_s_with_service_busy() -> None:
    encoder = FakeEncoder()
    encoder.gate.clear()
    cache: SingleFlight[bytes] = SingleFlight(wait_s=0.05)
    try:
        with pytest.raises(ServiceBusy, match=r"not ready within 0\.05 s"):
            cache.get("cam1", 1, lambda: encoder.make("slow"))
    finally:
        encoder.gate.set()
        cache.close()
    with pytest.raises(ServiceBusy, match="stopping"):  # closed: nothing more is made
        cache.get("cam1", 2, lambda: encoder.make("late"))
    assert encoder.calls == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_interval_s": -1.0}, "min_interval_s must be >= 0, got -1.0"),
        ({"min_interval_s": float("nan")}, "min_interval_s must be >= 0, got nan"),
        ({"max_busy": 0.0}, r"max_busy must be in \(0, 1\], got 0.0"),
        ({"max_busy": 1.5}, r"max_busy must be in \(0, 1\], got 1.5"),
        ({"wait_s": 0.0}, "wait_s must be a positive number of seconds, got 0.0"),
        ({"wait_s": float("inf")}, "wait_s must be a positive number of seconds, got inf"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SingleFlight(**kwargs)  # type: ignore[arg-type]
