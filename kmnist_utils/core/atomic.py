"""Write files so that readers see the old version or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one step.

    The temporary file lives in the same folder so that ``os.replace`` is an atomic rename; if
    the body raises (or the process dies), the old ``target`` is untouched and the temporary
    file is removed (or, after a kill, left as a hidden ``.<name>.*<suffix>`` file that
    no reader looks at and ``remove_stale_temporaries`` clears).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs should read like any other
            os.replace(tmp, target)
        except OSError as exc:
            if exc.filename is not None or exc.errno is None:
                raise
            # A write that fails half-way (a full disk) names no file; the error then names the one it was.
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def remove_stale_temporaries(folder: str | os.PathLike, older_than_s: float = 0.0) -> list[Path]:
    """Delete temporaries that a killed run left in ``folder`` (hidden ``.*.tmp*`` files).

    ``older_than_s`` spares the temporaries of a process still writing (a folder other runs share).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than_s
    stale = [p for p in folder.glob(".*.tmp*") if p.is_file() and p.stat().st_mtime <= cutoff]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
