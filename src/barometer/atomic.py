"""Atomic file writes: a finished file or the previous one, never a truncated one.

Every file barometer writes (report, findings, banners, charts, specs) is written to a
temporary file in the target's own folder and renamed into place (``os.replace`` is
atomic within one file system), so a full disk, a killed process or an exception
part-way leaves whatever was there before — never an empty ``banners.xlsx`` or a
truncated ``report.html`` that looks like a result.  A failure is one
:class:`~barometer.errors.BarometerError`
naming the path ("no space left on device").
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from barometer.errors import BarometerError

__all__ = ["atomic_path", "disk_error", "write_bytes", "write_text"]


def disk_error(path: Path | str, err: OSError) -> BarometerError:
    """The one message for an OS error while writing ``path``."""
    # Some writers (polars) raise an OSError without errno: read its text too.
    if err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(err):
        why = "no space left on the device"
    else:
        why = err.strerror or str(err)
    return BarometerError(f"cannot write {str(path)!r}: {why}; nothing was written there")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block
    ends without error, removed otherwise.

    Examples
    --------
    >>> with atomic_path("out.csv") as tmp:  # doctest: +SKIP
    ...     frame.write_csv(tmp)
    """
    target = Path(path)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path(".")
        )
        os.close(fd)
    except OSError as err:
        raise disk_error(target, err) from None
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as err:
        with suppress(OSError):
            tmp.unlink()
        raise disk_error(target, err) from None
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
