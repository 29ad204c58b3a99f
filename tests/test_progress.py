"""Progress off a terminal (DAG logs): plain lines every N steps or every 30 s, nothing with --no-progress."""

from __future__ import annotations

import io

import torch

from rwbench.progress import Progress, progress


def test_plain_lines_every_n_steps_off_a_terminal():
    out = io.StringIO()                                  # not a tty, as a DAG job's log
    with Progress(100, "walk", stream=out, every=25, seconds=1e9, min_seconds=0) as bar:
        for _ in range(100):
            bar.update(loss="0.5")
    lines = out.getvalue().splitlines()
    assert [line.split(" after")[0] for line in lines] == [f"walk: {n}/100 ({n} %)" for n in (25, 50, 75, 100)]
    assert all(line.endswith("loss=0.5") for line in lines) and "\r" not in out.getvalue()


def test_a_line_every_interval_even_between_step_counts():
    out = io.StringIO()
    list(progress(range(7), "slow", stream=out, every=1000, seconds=0.0, min_seconds=0))
    assert len(out.getvalue().splitlines()) == 7         # every update is past the (zero) interval


def test_default_step_count_gives_about_ten_lines_and_disabled_is_silent():
    out = io.StringIO()
    assert list(progress(range(1000), "ref", stream=out, min_seconds=0)) == list(range(1000))
    assert len(out.getvalue().splitlines()) == 10
    short = io.StringIO()                                # a loop faster than min_seconds: one line, at the end
    list(progress(range(1000), "fast", stream=short))
    assert short.getvalue().splitlines()[0].startswith("fast: 1000/1000 (100 %)") and len(short.getvalue().splitlines()) == 1
    quiet = io.StringIO()
    list(progress(range(50), "x", stream=quiet, enabled=False))
    assert quiet.getvalue() == ""


def test_a_native_sampler_reports_progress_on_a_captured_stream(capfd):
    from rwbench.baselines.iadb import iadb_sample

    iadb_sample(lambda x, a: -x, torch.zeros(2, 1, 4, 4), 20, progress=True)
    err = capfd.readouterr().err
    assert "iadb: 20/20 (100 %)" in err and "\r" not in err
