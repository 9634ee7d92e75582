"""The garbage collector's young threshold in processes of many cameras (gcpolicy.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from crowdsafe.gcpolicy import YOUNG_THRESHOLD, collect_young_less_often


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_the_young_threshold_is_raised_and_the_older_ones_kept() -> None:
    gc.set_threshold(700, 11, 12)
    collect_young_less_often()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)


@pytest.mark.usefixtures("thresholds")
def test_a_higher_threshold_or_collection_turned_off_is_left_alone() -> None:
    gc.set_threshold(50_000, 10, 10)
    collect_young_less_often()
    assert gc.get_threshold()[0] == 50_000
    gc.set_threshold(0, 10, 10)  # someone turned collection off: it stays off
    collect_young_less_often()
    assert gc.get_threshold()[0] == 0
