"""The allocator's trim: pages freed by the chunks go back to the system only once the resident set passes
the bound (each trim costs faults when they are taken again), and always when asked with no bound. In a
process of its own: the tuning is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from scoring import memory

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from scoring import memory

    memory.reuse_large_blocks()
    blocks = [np.ones(1 << 17) for _ in range(200)]  # 200 MB in 1 MB arrays, written and then freed:
    del blocks  # glibc keeps the pages in its heap for the next ones
    held = memory._resident()
    memory.trim(above=held + (64 << 20))
    kept = memory._resident()
    memory.trim(above=0)
    print((held - kept) >> 20, (kept - memory._resident()) >> 20)
    """
)


@pytest.mark.skipif(memory._LIBC is None, reason="glibc's trim: a no-op elsewhere")
def test_freed_pages_go_back_only_above_the_bound() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    under_the_bound, unbounded = (int(mb) for mb in done.stdout.split())
    assert under_the_bound < 20  # kept for the next chunk
    assert unbounded > 150  # asked with no bound: handed back
