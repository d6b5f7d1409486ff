import subprocess
import sys

import pytest

from algorhythms_ml.allocator import keep_freed_blocks

# Allocate, touch and free a 64 MB block 20 times; print the process's minor page faults.
_CHURN = """
import resource, sys
import numpy as np
from algorhythms_ml.allocator import keep_freed_blocks
print(keep_freed_blocks())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    block = np.ones(8 << 20)  # 64 MB, every page written
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(tuning: str) -> tuple[bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHURN],
        env={"ALGORHYTHMS_MALLOC_TUNING": tuning, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again():
    took, tuned = _faults("1")
    assert took
    untouched, default = _faults("0")
    assert not untouched
    # glibc's default maps each 64 MB block afresh, so its pages fault in twenty times; kept on
    # the heap, once (the kernel's fault-around decides how many faults a block takes)
    assert tuned * 5 < default


def test_the_tuning_can_be_turned_off():
    environ = {"ALGORHYTHMS_MALLOC_TUNING": "0"}
    assert keep_freed_blocks(environ) is False
    assert environ == {"ALGORHYTHMS_MALLOC_TUNING": "0"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_processes_started_afterwards_get_the_same_settings_unless_set_already():
    environ = {"MALLOC_TRIM_THRESHOLD_": "1234"}
    assert keep_freed_blocks(environ)
    assert environ["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30)
    assert environ["MALLOC_TRIM_THRESHOLD_"] == "1234"


# Touch and free 512 MB in 64 MB blocks with the heap keeping them; print the resident growth
# after the free and after release_freed_memory, in MB.
_RELEASE = """
import numpy as np, psutil
from algorhythms_ml.allocator import keep_freed_blocks, release_freed_memory
assert keep_freed_blocks()
process = psutil.Process()
base = process.memory_info().rss
blocks = [np.ones(8 << 20) for _ in range(8)]
del blocks
kept = process.memory_info().rss - base
release_freed_memory()
print(kept >> 20, (process.memory_info().rss - base) >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_step_gives_back_what_the_heap_kept_once_it_ends():
    out = subprocess.run(
        [sys.executable, "-c", _RELEASE],
        env={"ALGORHYTHMS_MALLOC_TUNING": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    kept, released = int(out[0]), int(out[1])
    assert kept > 400  # the heap kept the freed blocks' pages
    assert released < 100
