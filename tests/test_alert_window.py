"""A zone's trend window: bin means, what is kept, and the trends fitted on the bins."""

from __future__ import annotations

import numpy as np
import pytest

from crowdsafe.alerts.window import BIN_S, TrendWindow, phase_of

T0 = 1_800_000_000.0


def test_bins_hold_the_means_of_their_samples_and_close_in_time_order() -> None:
    w = TrendWindow(60.0, bin_s=5.0)
    closed = [w.add(T0 + i, float(i)) for i in range(12)]
    # bins [T0, T0+5) and [T0+5, T0+10) close at the samples of T0+5 and T0+10
    assert [i for i, c in enumerate(closed) if c] == [5, 10]
    rows = list(w._closed)
    assert [r[3] for r in rows] == [5, 5]
    assert rows[0][2] == pytest.approx(2.0)  # mean of 0..4
    assert rows[1][1] == pytest.approx(T0 + 7.0)  # mean time of 5..9
    assert w.add(T0 + 3, 100.0) is False  # late: dropped, nothing changes
    assert [r[2] for r in w._closed] == pytest.approx([2.0, 7.0])


def test_bins_older_than_keep_s_are_dropped() -> None:
    w = TrendWindow(30.0, bin_s=5.0)
    for i in range(100):
        w.add(T0 + i, 1.0)
    starts = [r[0] for r in w._closed]
    assert starts[0] >= T0 + 99 - 30
    assert starts == [T0 + s for s in (70, 75, 80, 85, 90)]  # 95 is still open


def test_a_steady_rise_is_found_with_its_slope_and_noise_is_not() -> None:
    rng = np.random.default_rng(3)
    rise, noise = TrendWindow(180.0), TrendWindow(180.0)  # BIN_S bins
    for i in range(180):
        rise.add(T0 + i, 1.0 + i * (0.5 / 60) + rng.normal(0, 0.1))
        noise.add(T0 + i, 1.5 + rng.normal(0, 0.3))
    trend = rise.trend(T0 + 179, 180.0, 60, 2.33)
    assert trend is not None
    assert trend.slope_per_s * 60 == pytest.approx(0.5, rel=0.1)
    # the trend line's level at its last bin's mean time is the true level there
    assert trend.level_now == pytest.approx(1.0 + (trend.t_now - T0) * 0.5 / 60, abs=0.1)
    assert noise.trend(T0 + 179, 180.0, 60, 2.33) is None
    falling = TrendWindow(180.0)
    for i in range(180):
        falling.add(T0 + i, 5.0 - i * 0.01)
    assert falling.trend(T0 + 179, 180.0, 60, 2.33) is None  # only rises are trends here


def test_min_samples_counts_samples_not_bins() -> None:
    w = TrendWindow(180.0, bin_s=5.0)
    for i in range(41):
        w.add(T0 + i, 0.1 * i)
    # 8 closed bins of 5 samples each: 40 samples
    assert w.trend(T0 + 40, 180.0, 40, 2.33) is not None
    assert w.trend(T0 + 40, 180.0, 41, 2.33) is None


def test_zones_refit_at_different_seconds() -> None:
    """A worker's thousands of zones spread their refits over the bin, not all at once."""
    phases = [phase_of(f"cam{i}-z{j}") for i in range(200) for j in range(3)]
    assert all(0 <= p < BIN_S for p in phases)
    per_second = np.bincount(np.floor(phases).astype(int), minlength=int(BIN_S))
    assert per_second.min() > len(phases) / BIN_S * 0.7
    assert phase_of("north") == phase_of("north")  # the same in every process


def test_a_bin_must_have_a_width() -> None:
    with pytest.raises(ValueError, match="bin_s"):
        TrendWindow(60.0, bin_s=0.0)


def test_several_windows_fit_at_once_as_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    w = TrendWindow(180.0, bin_s=5.0)
    for i in range(180):
        w.add(T0 + i, 1.0 + i * (0.8 / 60) * (i > 90) + rng.normal(0, 0.05))
    both = w.trends(T0 + 179, (120.0, 180.0), 30, 2.33)
    assert both == [w.trend(T0 + 179, 120.0, 30, 2.33), w.trend(T0 + 179, 180.0, 30, 2.33)]
    assert both[0] is not None and both[1] is not None
    # the shorter window sees the rise that began half way, the longer one averages it
    assert both[0].slope_per_s > both[1].slope_per_s
