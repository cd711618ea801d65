"""Approximate-time synchronizer: slop, out-of-order stamps, queue bound, staleness, explanations."""

from __future__ import annotations

import pytest

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.streams.sync import ApproximateTimeSync

MS = 1_000_000


def make(**kw) -> ApproximateTimeSync:
    return ApproximateTimeSync(["image", "camera_info", "sparse_depth"], "image", **kw)


def test_pairs_within_slop() -> None:
    s = make(slop_s=0.02)
    assert s.add("image", 100 * MS, "img") is None
    assert s.add("camera_info", 100 * MS, "info") is None
    out = s.add("sparse_depth", 115 * MS, "sparse")
    assert out is not None and out.stamp_ns == 100 * MS
    assert out.messages == {"image": "img", "camera_info": "info", "sparse_depth": "sparse"}


def test_rejects_outside_slop_and_explains_lag() -> None:
    s = make(slop_s=0.05)
    s.add("camera_info", 1000 * MS, "info")
    s.add("sparse_depth", 790 * MS, "sparse")
    assert s.add("image", 1000 * MS, "img") is None
    assert s.explain() == "sparse_depth stamps lag image by 0.21 s > slop 0.05 s"


def test_explains_missing_stream() -> None:
    s = make()
    s.add("image", 0, "img")
    s.add("sparse_depth", 0, "sparse")
    assert s.explain() == "no camera_info received"


def test_picks_nearest_partner_not_first() -> None:
    s = make(slop_s=0.05)
    for t in (80, 95, 130):
        s.add("sparse_depth", t * MS, f"s{t}")
    s.add("camera_info", 100 * MS, "info")
    out = s.add("image", 100 * MS, "img")
    assert out.messages["sparse_depth"] == "s95"


def test_out_of_order_arrival_within_queue() -> None:
    s = make(slop_s=0.01, required=["image", "camera_info"])
    s.add("camera_info", 200 * MS, "i200")
    s.add("camera_info", 300 * MS, "i300")
    out = s.add("image", 200 * MS, "img200")  # older than i300, still pairs with i200
    assert out.messages["camera_info"] == "i200"


def test_newest_set_wins_and_older_references_are_dropped() -> None:
    s = make(slop_s=0.01, required=["image", "camera_info"])
    for t in (100, 200, 300):
        s.add("image", t * MS, f"img{t}")
    out = s.add("camera_info", 300 * MS, "info300")
    assert out.messages["image"] == "img300"
    assert s.stats.dropped_stale == 2
    # the older images are gone: only a new camera_info can complete a new set
    assert s.add("image", 400 * MS, "img400") is None
    assert len(s._queues["image"]) == 1


def test_queue_is_bounded() -> None:
    s = make(queue_size=3, required=["image", "camera_info"])
    for t in range(10):
        s.add("image", t * 1000 * MS, t)
    assert len(s._queues["image"]) == 3
    assert s.stats.dropped_overflow == 7


def test_backward_time_jump_resets_and_never_pairs_across_it() -> None:
    s = make(slop_s=0.05, required=["image", "camera_info"])
    s.add("image", 10_000 * MS, "old-image")  # waiting for its camera_info
    s.add("camera_info", 50 * MS, "info-after-loop")  # bag looped: time went backwards on camera_info?
    # camera_info had no earlier stamp, so no jump yet; now image jumps back:
    out = s.add("image", 50 * MS, "new-image")
    assert s.stats.resets == 1
    assert out is None  # queues were cleared by the jump: info-after-loop is gone
    out = s.add("camera_info", 50 * MS, "info2")
    assert out.messages == {"image": "new-image", "camera_info": "info2"}


def test_optional_stream_not_required() -> None:
    s = make(slop_s=0.01, required=["image", "camera_info"])
    s.add("camera_info", 5 * MS, "info")
    out = s.add("image", 5 * MS, "img")
    assert out is not None and "sparse_depth" not in out.messages


@pytest.mark.parametrize("kw,match", [({"queue_size": 0}, "queue_size"), ({"slop_s": -1.0}, "slop")])
def test_bad_configuration(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(**kw)
    with pytest.raises(ConfigError, match="unknown stream"):
        make().add("lidar", 0, None)


def test_two_matchable_images_the_newest_wins_and_the_older_is_counted_stale() -> None:
    s = make(slop_s=0.05)
    s.add("image", 100 * MS, "img100")
    s.add("image", 130 * MS, "img130")
    s.add("camera_info", 115 * MS, "info")  # within slop of both images
    out = s.add("sparse_depth", 115 * MS, "sparse")
    assert out is not None and out.stamp_ns == 130 * MS
    assert out.messages["image"] == "img130"
    assert s.stats.dropped_stale == 1 and s.stats.emitted == 1
    assert len(s._queues["image"]) == 0  # the older image is gone, not emitted later


def test_a_partner_used_by_one_set_is_never_given_to_a_later_image() -> None:
    s = make(slop_s=0.05)
    s.add("camera_info", 100 * MS, "info100")
    s.add("sparse_depth", 100 * MS, "sparse100")
    first = s.add("image", 100 * MS, "img100")
    assert first is not None and first.messages["camera_info"] == "info100"
    # A later image within slop of the used partners must wait for partners of its own.
    assert s.add("image", 120 * MS, "img120") is None
    assert s.add("camera_info", 120 * MS, "info120") is None
    second = s.add("sparse_depth", 120 * MS, "sparse120")
    assert second is not None
    assert second.messages == {"image": "img120", "camera_info": "info120", "sparse_depth": "sparse120"}


@pytest.mark.parametrize("sign", [1, -1])
def test_exact_slop_boundary_pairs_and_one_nanosecond_more_does_not(sign: int) -> None:
    slop_ns = 20 * MS
    s = make(slop_s=0.02, required=["image", "camera_info"])
    s.add("camera_info", 1000 * MS + sign * slop_ns, "info-at-slop")
    out = s.add("image", 1000 * MS, "img")
    assert out is not None and out.messages["camera_info"] == "info-at-slop"  # |dt| == slop pairs

    s = make(slop_s=0.02, required=["image", "camera_info"])
    s.add("camera_info", 1000 * MS + sign * (slop_ns + 1), "info-beyond")
    assert s.add("image", 1000 * MS, "img") is None  # slop + 1 ns does not
    # ... nor does a partner at 1.5 x slop (catches a looser comparison than the configured slop)
    s = make(slop_s=0.02, required=["image", "camera_info"])
    s.add("camera_info", 1000 * MS + sign * (3 * slop_ns // 2), "info-far")
    assert s.add("image", 1000 * MS, "img") is None
