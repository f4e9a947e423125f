"""A helper process of a ``--devices`` group: ``python -m vertical_automl.training.replicas ADDRESS RANK SIZE ...``.

Its arguments: the group's rendezvous address, its rank, the group's size, its
torch threads and the backend (``gloo`` or ``nccl``).

Started by :meth:`.devices.DeviceGroup.start`; it joins the group, then
trains a replica of each model rank 0 hands it (:func:`.shared.follow_job`)
until rank 0 says the search is over, or the group is gone.
"""

from __future__ import annotations

import signal
import sys
from datetime import timedelta


def main(address: str, rank: int, size: int, threads: int, backend: str) -> None:
    import torch
    import torch.distributed as dist

    from .devices import TIMEOUT_SECONDS
    from .shared import Rank, follow_job

    # Ctrl-C in the terminal reaches every process of the group: rank 0 stops at a safe point and closes the group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    dist.init_process_group(
        backend, init_method=address, rank=rank, world_size=size, timeout=timedelta(seconds=TIMEOUT_SECONDS)
    )
    try:
        while True:
            received: list = [None]
            dist.broadcast_object_list(received, src=0)
            if received[0] is None:
                return
            follow_job(received[0], Rank(rank, size))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
