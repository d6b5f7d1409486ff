"""The build's jobs give a step's freed memory back to the system when the step ends."""

import re
import sys

import dagster as dg
import numpy as np
import pytest

from algorhythms_assets.jobs import RELEASE_MEMORY, build_job, ingest_job
from algorhythms_ml.allocator import keep_freed_blocks


def test_both_jobs_release_memory_after_each_step():
    assert build_job.hooks == RELEASE_MEMORY == ingest_job.hooks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_step_that_freed_512_mb_returns_them_when_it_ends():
    assert keep_freed_blocks()  # as the build's processes run: the heap keeps freed blocks

    @dg.op
    def churn() -> int:
        blocks = [np.ones(8 << 20) for _ in range(8)]  # 8 x 64 MB, every page written
        return len(blocks)

    @dg.job(hooks=RELEASE_MEMORY)
    def one_step():
        churn()

    with dg.instance_for_test() as instance:
        result = one_step.execute_in_process(instance=instance)
        messages = [e.message for e in instance.all_logs(result.run_id) if e.message]
    lines = [m for m in messages if "returned to the system" in m]
    assert len(lines) == 1, messages
    freed = int(re.search(r"([\d,]+) MB of freed memory", lines[0]).group(1).replace(",", ""))
    assert freed >= 400, lines[0]
