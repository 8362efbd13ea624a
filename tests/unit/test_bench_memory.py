"""The memory rows' reading of the lab: a gunicorn worker's PSS and USS from smaps_rollup (the
figures app/scripts/measure_memory.py prints), the master left out."""

from __future__ import annotations

from preau_ops.bench import memory


def rollup(rss: int, pss: int, private_clean: int, private_dirty: int) -> str:
    return (
        "55d0c0a00000-7ffd5e5f2000 ---p 00000000 00:00 0                          [rollup]\n"
        f"Rss:              {rss} kB\n"
        f"Pss:              {pss} kB\n"
        "Pss_Anon:           1000 kB\n"
        "Shared_Clean:       9000 kB\n"
        f"Private_Clean:    {private_clean} kB\n"
        f"Private_Dirty:    {private_dirty} kB\n"
        "Swap:                  0 kB\n"
    )


def test_one_rollup_gives_rss_pss_and_uss_in_mb():
    figures = memory.rollup_figures(rollup(102400, 51200, 1024, 35840))
    assert figures == {"rss_mb": 100.0, "pss_mb": 50.0, "uss_mb": 36.0}


def test_the_largest_worker_leaves_the_master_out():
    output = (
        f"== 100 1\n{rollup(204800, 153600, 2048, 100000)}"  # the master: larger, not counted
        f"== 101 100\n{rollup(92160, 51200, 1024, 36864)}"
        f"== 102 100\n{rollup(81920, 61440, 1024, 20480)}"
    )
    assert memory.largest_worker(output) == {"pss_mb": 60.0, "uss_mb": 37.0}
    assert memory.largest_worker(f"== 100 1\n{rollup(1, 1, 1, 1)}") is None
    assert memory.largest_worker("") is None
