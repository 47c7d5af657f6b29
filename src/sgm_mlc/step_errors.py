"""What a failed step tells its user: one line naming the step, the path and the fix, for the operating-system
errors a step can meet anywhere (a full disk, a read-only folder, a permission denied)."""

from __future__ import annotations

import errno
from pathlib import Path

_FIXES = {
    errno.ENOSPC: "no space left on the device; free some space there (or write the outputs elsewhere) and rerun",
    errno.EDQUOT: "the disk quota is exceeded; free some space there (or write the outputs elsewhere) and rerun",
    errno.EROFS: "the file system is read-only; make it writable (or write the outputs elsewhere) and rerun",
    errno.EACCES: "permission denied; give this user access to it (or write the outputs elsewhere) and rerun",
    errno.EPERM: "operation not permitted; give this user access to it (or write the outputs elsewhere) and rerun",
}


def describe_os_error(error: OSError, step: str, out: Path | None) -> str:
    """One line for ``error`` raised by ``step``: the path it concerns, what went wrong and the fix.

    The path is the one the error names, else the step's output (``--out``): a failed write (pyarrow's, or a
    buffered file's flush) often names no file. Errors of other kinds keep their own message: the project
    raises those (a missing input, say) with the file and the fix already in it.
    """
    fix = _FIXES.get(error.errno)
    if fix is None:
        return str(error)
    path = error.filename or out
    return f"{step}: {path}: {fix}" if path is not None else f"{step}: {fix}"


def remove_if_left_empty(folder: Path | None, existed_before: bool) -> None:
    """Remove ``folder`` if the failed step created it and left it empty, so no empty output looks finished."""
    if folder is None or existed_before or not folder.is_dir():
        return
    try:
        folder.rmdir()
    except OSError:  # not empty, or not ours to remove: leave it
        pass
