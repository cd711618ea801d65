"""The mode rules (pipeline/modes.py), every combination: mode x estimator capabilities x sparse depth x
align_to_sparse, written out by hand below. The node's channels, the batch workers and one-off predictions
all decide through these functions, so this table is what each of them does with a frame."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.pipeline.modes import can_fall_back, check_mode, estimator_gets_sparse, frame_mode, needs_sparse
from lingbot_depth_ros.pipeline.prediction import resolve_mode

CAPABILITIES = {
    "none": frozenset(),
    "mono": frozenset({"monocular"}),
    "comp": frozenset({"completion"}),
    "both": frozenset({"completion", "monocular"}),
}
FIT = "scale_shift"  # any align_to_sparse other than "off" ("scale" is checked to behave the same)

# mode       capabilities sparse   align | check_mode  frame mode  needs sparse  estimator gets sparse
# (frame mode "wait": auto waiting for sparse depth; "refused": check_mode raises ConfigError for the pair)
TABLE = """
completion   none   sparse    off     | refused   completion  yes  yes
completion   none   sparse    fit     | refused   completion  yes  yes
completion   none   none      off     | refused   completion  yes  no
completion   none   none      fit     | refused   completion  yes  no
completion   mono   sparse    off     | refused   completion  yes  yes
completion   mono   sparse    fit     | refused   completion  yes  yes
completion   mono   none      off     | refused   completion  yes  no
completion   mono   none      fit     | refused   completion  yes  no
completion   comp   sparse    off     | ok        completion  yes  yes
completion   comp   sparse    fit     | ok        completion  yes  yes
completion   comp   none      off     | ok        completion  yes  no
completion   comp   none      fit     | ok        completion  yes  no
completion   both   sparse    off     | ok        completion  yes  yes
completion   both   sparse    fit     | ok        completion  yes  yes
completion   both   none      off     | ok        completion  yes  no
completion   both   none      fit     | ok        completion  yes  no
monocular    none   sparse    off     | refused   monocular   no   no
monocular    none   sparse    fit     | refused   monocular   yes  no
monocular    none   none      off     | refused   monocular   no   no
monocular    none   none      fit     | refused   monocular   yes  no
monocular    mono   sparse    off     | ok        monocular   no   no
monocular    mono   sparse    fit     | ok        monocular   yes  no
monocular    mono   none      off     | ok        monocular   no   no
monocular    mono   none      fit     | ok        monocular   yes  no
monocular    comp   sparse    off     | refused   monocular   no   no
monocular    comp   sparse    fit     | refused   monocular   yes  no
monocular    comp   none      off     | refused   monocular   no   no
monocular    comp   none      fit     | refused   monocular   yes  no
monocular    both   sparse    off     | ok        monocular   no   no
monocular    both   sparse    fit     | ok        monocular   yes  no
monocular    both   none      off     | ok        monocular   no   no
monocular    both   none      fit     | ok        monocular   yes  no
auto         none   sparse    off     | refused   wait        yes  no
auto         none   sparse    fit     | refused   wait        yes  no
auto         none   none      off     | refused   wait        yes  no
auto         none   none      fit     | refused   wait        yes  no
auto         mono   sparse    off     | refused   monocular   no   no
auto         mono   sparse    fit     | refused   monocular   no   no
auto         mono   none      off     | refused   monocular   no   no
auto         mono   none      fit     | refused   monocular   no   no
auto         comp   sparse    off     | ok        completion  yes  yes
auto         comp   sparse    fit     | ok        completion  yes  yes
auto         comp   none      off     | ok        wait        yes  no
auto         comp   none      fit     | ok        wait        yes  no
auto         both   sparse    off     | ok        completion  yes  yes
auto         both   sparse    fit     | ok        completion  yes  yes
auto         both   none      off     | ok        monocular   no   no
auto         both   none      fit     | ok        monocular   no   no
"""


@dataclass(frozen=True)
class Row:
    mode: str
    capabilities: str
    has_sparse: bool
    align: str
    accepted: bool
    frame_mode: str | None
    needs_sparse: bool
    estimator_gets_sparse: bool

    def __str__(self) -> str:
        return f"{self.mode}/{self.capabilities}/{'sparse' if self.has_sparse else 'none'}/{self.align}"


def _rows() -> list[Row]:
    rows = []
    for line in TABLE.strip().splitlines():
        given, expected = line.split("|")
        mode, caps, sparse, align = given.split()
        accepted, frame, needs, gets = expected.split()
        rows.append(Row(mode, caps, sparse == "sparse", FIT if align == "fit" else "off", accepted == "ok",
                        None if frame == "wait" else frame, needs == "yes", gets == "yes"))
    return rows


ROWS = _rows()


@dataclass(frozen=True)
class FakeEstimator:
    name: str
    supported_modes: frozenset[str]


def test_the_table_covers_every_combination_once() -> None:
    combos = {(r.mode, r.capabilities, r.has_sparse, r.align) for r in ROWS}
    expected = set(itertools.product(("completion", "monocular", "auto"), CAPABILITIES, (True, False), ("off", FIT)))
    assert combos == expected and len(ROWS) == len(expected) == 48


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_mode_rules(row: Row) -> None:
    supported = CAPABILITIES[row.capabilities]
    estimator = FakeEstimator("fake", supported)
    if row.accepted:
        check_mode(estimator, row.mode)
    else:
        with pytest.raises(ConfigError, match=f"estimator 'fake' cannot run mode '{row.mode}'"):
            check_mode(estimator, row.mode)
    assert frame_mode(row.mode, supported, row.has_sparse) == row.frame_mode
    assert needs_sparse(row.mode, supported, row.has_sparse, row.align) is row.needs_sparse
    assert estimator_gets_sparse(row.mode, supported, row.has_sparse) is row.estimator_gets_sparse
    for fit in ("scale", "scale_shift"):  # every fit is the same to the rules
        if row.align != "off":
            assert needs_sparse(row.mode, supported, row.has_sparse, fit) is row.needs_sparse


@pytest.mark.parametrize("capabilities, falls_back", [("none", False), ("mono", True), ("comp", False),
                                                      ("both", True)])
def test_auto_falls_back_to_monocular_only_with_a_monocular_estimator(capabilities: str, falls_back: bool) -> None:
    assert can_fall_back(CAPABILITIES[capabilities]) is falls_back


def test_unknown_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown mode 'stereo'; choose one of: completion, monocular, auto"):
        check_mode(FakeEstimator("fake", CAPABILITIES["both"]), "stereo")


def test_a_monocular_only_estimator_is_pointed_at_monocular_with_alignment() -> None:
    with pytest.raises(ConfigError, match="mode:=monocular and align_to_sparse:=scale_shift"):
        check_mode(FakeEstimator("fake", CAPABILITIES["mono"]), "completion")


# A request (predict / HTTP) without a mode gets auto's choice for its frame; monocular-without-fallback
# estimators still get "monocular" (refused later by check_mode, with its own message).
# capabilities (None: not known yet), sparse, align -> resolved mode or the InputError
REQUESTS = [
    (None, True, "off", "completion"), (None, False, "off", "monocular"),
    (None, True, FIT, "completion"), (None, False, FIT, "monocular"),
    ("none", True, "off", "takes no sparse depth"), ("none", False, "off", "monocular"),
    ("none", True, FIT, "monocular"), ("none", False, FIT, "monocular"),
    ("mono", True, "off", "takes no sparse depth"), ("mono", False, "off", "monocular"),
    ("mono", True, FIT, "monocular"), ("mono", False, FIT, "monocular"),
    ("comp", True, "off", "completion"), ("comp", False, "off", "monocular"),
    ("comp", True, FIT, "completion"), ("comp", False, FIT, "monocular"),
    ("both", True, "off", "completion"), ("both", False, "off", "monocular"),
    ("both", True, FIT, "completion"), ("both", False, FIT, "monocular"),
]


@pytest.mark.parametrize("capabilities, has_sparse, align, expected", REQUESTS)
def test_request_without_a_mode_gets_autos_choice(capabilities: str | None, has_sparse: bool, align: str,
                                                  expected: str) -> None:
    supported = None if capabilities is None else CAPABILITIES[capabilities]
    if expected in ("completion", "monocular"):
        assert resolve_mode(None, has_sparse, align=align, supported=supported) == expected
    else:
        with pytest.raises(InputError, match=expected):
            resolve_mode(None, has_sparse, align=align, supported=supported)


@pytest.mark.parametrize("requested, has_sparse, align, expected", [
    ("completion", True, "off", "completion"), ("completion", False, "off", "'completion' needs sparse depth"),
    ("completion", False, FIT, "'completion' needs sparse depth"),
    ("monocular", True, "off", "takes no sparse depth"), ("monocular", True, FIT, "monocular"),
    ("monocular", False, "off", "monocular"), ("monocular", False, FIT, "monocular"),
    ("auto", True, "off", "unknown mode 'auto'"),
])
def test_requested_modes(requested: str, has_sparse: bool, align: str, expected: str) -> None:
    if expected in ("completion", "monocular"):
        assert resolve_mode(requested, has_sparse, align=align, supported=CAPABILITIES["both"]) == expected
    else:
        with pytest.raises(InputError, match=expected):
            resolve_mode(requested, has_sparse, align=align, supported=CAPABILITIES["both"])
