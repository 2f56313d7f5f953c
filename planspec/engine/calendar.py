"""Time → buckets: the one place that decides which bucket a timestamp falls in.

Bucket ids are global and stable (the same timestamp, bucket size and time zone always give the
same id), so sums gathered in different runs, batches or partitions line up and merge by id.
"""

from __future__ import annotations

import numpy as np

from planspec.compile import EPOCH


def bucket_ids(times: np.ndarray, size: int) -> np.ndarray:
    """The global bucket of each time (seconds since the Unix epoch, UTC): buckets of ``size``
    seconds counted from the epoch Monday 1970-01-05T00:00:00Z.

    >>> bucket_ids(np.array([4 * 86400, 5 * 86400 - 1, 5 * 86400]), 86400).tolist()
    [0, 0, 1]
    """
    return np.asarray((times - EPOCH) // size, dtype=np.int64)


def bucket_starts(ids: np.ndarray, size: int) -> np.ndarray:
    """The start of each global bucket, seconds since the Unix epoch.

    >>> bucket_starts(np.array([0, 1]), 86400).tolist()
    [345600, 432000]
    """
    return np.asarray(ids, dtype=np.int64) * size + EPOCH
