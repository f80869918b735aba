"""Progress of long work: a bar on a terminal, lines with the count, the info and the time left
in a log (when stdout is a file), never more often than the interval."""

import io

from scenegen.common.progress import Progress, duration, track


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_lines_in_a_log_carry_count_info_and_time_left(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("scenegen.common.progress.time.perf_counter", lambda: now[0])
    log = io.StringIO()
    with Progress("train", total=100, stream=log, interval=5.0) as bar:
        for step in range(1, 11):
            now[0] += 2.0  # a step every 2 s: 20 s in all
            bar.update(step * 10, info=f"loss {1 / step:.3f}  psnr {20 + step}")
    lines = log.getvalue().splitlines()
    assert lines[0] == "train: 0/100 (0%)"
    assert lines[-1].startswith("train: 100/100 (100%)  loss 0.100  psnr 30  done in ")
    middle = lines[1:-1]
    assert len(middle) == 3, lines  # one every 5 s (at 6, 12 and 18 s) of the 20 s the run took
    assert middle[0] == "train: 30/100 (30%)  loss 0.333  psnr 23  6s spent, 14s left"


def test_interval_bounds_the_lines_and_a_new_phase_gets_one():
    log = io.StringIO()
    with Progress("SfM: features", stream=log, interval=3600) as bar:
        for _ in range(1000):
            bar.advance()
        bar.update(0, description="SfM: mapping", total=5)
        bar.advance()
    lines = log.getvalue().splitlines()
    assert lines == ["SfM: features:", "SfM: mapping: 0/5 (0%)", lines[-1]]
    assert lines[-1].startswith("SfM: mapping: 1/5 (20%)  done in")


def test_track_counts_items_and_disabled_shows_nothing():
    log = io.StringIO()
    assert list(track(range(4), "render", stream=log, interval=0)) == [0, 1, 2, 3]
    lines = log.getvalue().splitlines()
    assert lines[0] == "render: 0/4 (0%)" and lines[-1].startswith("render: 4/4 (100%)  done in")
    quiet = io.StringIO()
    assert list(track(range(3), "render", stream=quiet, enabled=False)) == [0, 1, 2]
    assert quiet.getvalue() == ""


def test_a_terminal_gets_a_bar_not_lines():
    term = Terminal()
    with Progress("train", total=10, stream=term, interval=0) as bar:
        bar.update(10, info="loss 0.1")
    out = term.getvalue()
    assert "train" in out and "10/10" in out and "train: 0/10" not in out


def test_durations_read_like_a_clock():
    assert [duration(s) for s in (4.4, 250, 3725)] == ["4s", "4m10s", "1h02m"]
