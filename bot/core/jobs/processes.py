"""Who holds a job: each pickloop process has an id that says where it runs, so that another
process on the same host can tell at once that the holder is gone."""

from __future__ import annotations

import os
import socket

from storage.ids import new_public_id


def new_worker_id() -> str:
    """host:pid:nonce; the nonce tells apart two lives of one pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_public_id()}"


def worker_is_gone(worker_id: str) -> bool:
    """True when the worker is a process on this host that no longer exists."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
