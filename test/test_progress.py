"""The shared progress bar: draws in place, throttles, ends the line, stays silent when disabled."""

from __future__ import annotations

import io

from lingbot_depth_ros.progress import ProgressBar


def test_draws_bar_and_final_line() -> None:
    out = io.StringIO()
    bar = ProgressBar("job", 4, stream=out, width=8)
    bar.update(1, "a")
    bar.update(2)
    bar.close(note="done")
    text = out.getvalue()
    assert "\rjob: [##......] 1/4 a" in text and "\rjob: [####....] 2/4" in text
    assert text.endswith("\rjob: [########] 4/4 done\n")


def test_throttles_but_never_skips_the_last_step() -> None:
    out = io.StringIO()
    bar = ProgressBar("x", 3, stream=out, min_interval_s=3600)
    bar.update(1)
    bar.update(2)  # within the interval: not drawn
    bar.update(3)  # the last step is always drawn
    assert out.getvalue().count("\r") == 2 and "3/3" in out.getvalue()


def test_disabled_writes_nothing() -> None:
    out = io.StringIO()
    bar = ProgressBar("x", 2, stream=out, enabled=False)
    bar.update(1)
    bar.close()
    assert out.getvalue() == ""
