"""The live feed's undecoded rows (``LiveFeed.publish_rows``): what a fleet's API server
keeps of each notification, decoded only when read or sent; reads must see exactly what
publishing the decoded samples would have shown."""

from __future__ import annotations

import asyncio
import json

import pytest

from crowdsafe.feed import LiveFeed, Message
from crowdsafe.store.codec import Codec
from crowdsafe.store.notify import (
    ZONE_ID,
    read_sample_rows,
    sample_of_row,
    samples_payloads,
)
from crowdsafe.types import LevelOfService, ZoneSample

_ZONES = Codec(ZoneSample, native_bool=True)


def sample(zone: str, t: float, count: float = 3.0) -> ZoneSample:
    return ZoneSample("cam1", zone, t, count, int(count), 50.0, count / 50.0, LevelOfService.B, 5)


def rows(*samples: ZoneSample) -> list[list[object]]:
    """As a notification carries them: through JSON and back."""
    return [r for p in samples_payloads(samples) for r in read_sample_rows(p)]


def test_rows_read_back_as_the_samples_written() -> None:
    written = [sample(f"z{i}", 100.0 + i, i / 3) for i in range(300)]
    assert [sample_of_row(r) for r in rows(*written)] == written
    assert {r[ZONE_ID] for r in rows(*written)} == {s.zone_id for s in written}


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ('{"x": 1}', "no rows"),
        (json.dumps({"f": list(_ZONES.names), "s": [[1, 2]]}), "a row of 2 columns"),
        (json.dumps({"f": list(_ZONES.names), "s": {"a": 1}}), "rows not a list"),
        ("not json", "not JSON"),
    ],
)
def test_a_payload_that_is_not_one_is_refused(payload: str, why: str) -> None:
    with pytest.raises(ValueError, match="not a crowdsafe_samples payload"):
        read_sample_rows(payload)


def test_reads_see_the_newest_of_rows_and_samples_in_publishing_order() -> None:
    feed = LiveFeed()
    feed.publish([sample("a", 1.0), sample("b", 1.0)])
    feed.publish_rows(rows(sample("a", 2.0), sample("a", 3.0)), _ZONES.names, sample_of_row)
    assert feed.latest_of("a") == sample("a", 3.0)  # the last row of a zone wins
    feed.publish_rows(rows(sample("b", 4.0)), _ZONES.names, sample_of_row)
    feed.publish([sample("b", 5.0)])  # decoded after the row: it wins
    assert feed.latest_of("b") == sample("b", 5.0)
    feed.publish_rows(rows(sample("c", 6.0)), _ZONES.names, sample_of_row)
    assert feed.latest() == {"a": sample("a", 3.0), "b": sample("b", 5.0), "c": sample("c", 6.0)}
    assert feed.latest_of("nowhere") is None


def test_a_row_that_does_not_decode_leaves_the_sample_before_it() -> None:
    feed = LiveFeed()
    feed.publish([sample("a", 1.0)])
    bad = rows(sample("a", 2.0))[0]
    bad[list(_ZONES.names).index("los")] = "no such level"
    feed.publish_rows([bad], _ZONES.names, sample_of_row)
    assert feed.latest_of("a") == sample("a", 1.0)
    assert feed.latest() == {"a": sample("a", 1.0)}


def test_a_listening_client_gets_every_row_decoded_in_order() -> None:
    written = [sample("a", 1.0), sample("b", 1.0), sample("a", 2.0)]

    async def heard() -> list[Message]:
        feed = LiveFeed()
        queue = feed.subscribe()
        feed.publish_rows(rows(*written), _ZONES.names, sample_of_row)
        return [await asyncio.wait_for(queue.get(), 5.0) for _ in written]

    assert asyncio.run(heard()) == [("sample", s.to_dict()) for s in written]


def test_latest_fields_read_rows_without_decoding_them_and_match_the_samples() -> None:
    feed = LiveFeed()
    feed.publish([sample("a", 1.0, 2.0), sample("b", 1.0, 4.0)])
    feed.publish_rows(
        rows(sample("a", 2.0, 5.0), sample("c", 2.0, 1.0)), _ZONES.names, sample_of_row
    )
    names = ("t", "count", "los")
    got = feed.latest_fields(names)
    assert got == {"a": (2.0, 5.0, "B"), "b": (1.0, 4.0, LevelOfService.B), "c": (2.0, 1.0, "B")}
    assert feed._rows, "latest_fields must not decode the waiting rows"
    decoded = {z: (s.t, s.count, s.los) for z, s in feed.latest().items()}
    assert got == decoded  # a level's value equals its member
    assert feed.latest_fields(("t",)) == {"a": (2.0,), "b": (1.0,), "c": (2.0,)}
    with pytest.raises(ValueError, match="at least one field"):
        feed.latest_fields(())


def test_latest_times_of_one_zone_or_many_are_the_same_times() -> None:
    feed = LiveFeed()
    feed.publish([sample("a", 1.0)])
    feed.publish_rows(rows(sample("b", 2.0)), _ZONES.names, sample_of_row)
    assert feed.latest_times(["a", "b", "nowhere"]) == {"a": 1.0, "b": 2.0}
    assert feed.latest_times(["b"]) == {"b": 2.0}  # one zone: decoded alone
    assert feed.latest_times(["nowhere"]) == {}
    assert feed.latest_times([]) == {}
