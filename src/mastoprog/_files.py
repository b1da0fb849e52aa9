"""Output files that are either complete or absent: the one writer every output goes through.

Each output (CSV, JSON, Parquet, PNG, PDF, HTML, ...) is written under a temporary name in the
target's own folder (``.<stem>.<random>.partial<suffix>``: same file system, so the final rename is
atomic; the suffix is kept so that writers choosing the format by extension still do) and moved
into place with ``os.replace`` only when the writer has finished. An existing file is never
replaced unless ``force``: without it the move is a hard link, which fails if the target appeared
in the meantime, instead of a check followed by a rename.

An exception, Ctrl-C (SIGINT) or SIGTERM removes the temporary file: while an output is open in
the main thread, both signals get a handler that deletes every temporary file still open, then
raises ``KeyboardInterrupt`` (SIGINT) or, for SIGTERM, ends the process at once with status
128 + 15 (the status a shell reports for a process ended by SIGTERM), as SIGTERM's default action
would, without unwinding. Raising ``SystemExit`` at an arbitrary point of a write once left the
process unable to exit (seen once in CI, not reproduced in 200 local trials): such an exception can
interrupt a thread pool's join and mark a running worker finished (CPython issue 90882), and the
interpreter's shutdown beside a live pyarrow worker is a known source of hangs at exit
(apache/arrow#50482, #33975). A handler installed before ours (a server's, a test's) is called
instead. A process killed outright (SIGKILL, power loss) can still leave a ``.partial`` file,
never a half-written file under the target's name.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from os import PathLike
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from .exceptions import OutputExistsError

__all__ = ["atomic_output", "atomic_outputs", "refuse_existing", "write_bytes", "write_text"]

#: Temporary files of outputs now being written (removed by the signal handler).
_OPEN: set[Path] = set()
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Signals whose handler removed the temporaries (last one last). A Python signal handler can run
#: inside a garbage-collector callback, where the exception it raises is swallowed ("exception
#: ignored"); the write then meets its own temporary gone, and ends as the signal asked.
_RECEIVED: list[int] = []


def refuse_existing(path: str | PathLike, force: bool) -> Path:
    """``path`` as a Path; :class:`~mastoprog.exceptions.OutputExistsError` if it exists and not ``force``.

    Examples
    --------
    >>> refuse_existing("surely-not-here.csv", force=False).name
    'surely-not-here.csv'
    """
    target = Path(path)
    if not force and (target.exists() or target.is_symlink()):
        raise OutputExistsError(f"{str(target)!r} exists; pass force=True (--force) to overwrite it")
    return target


@contextmanager
def atomic_outputs(*paths: str | PathLike, force: bool = False) -> Iterator[tuple[Path, ...]]:
    """Temporary paths for several outputs written together; all moved into place at the end.

    Parameters
    ----------
    *paths : str or path
        The final files (e.g. a CSV and its JSON sidecar).
    force : bool
        Replace existing files (default: refuse, before anything is written and again at the
        final move).

    Yields
    ------
    tuple of Path
        One temporary path per output, in the same folder and with the same suffix.

    Raises
    ------
    OutputExistsError
        If an output exists and ``force`` is False.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_outputs(folder / "a.csv", folder / "a.csv.json") as (csv, side):
    ...     _ = csv.write_text("age\\n54\\n"), side.write_text("{}")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.csv', 'a.csv.json']
    """
    targets = [refuse_existing(p, force) for p in paths]
    with ExitStack() as stack:
        stack.enter_context(_signals_remove_temporaries())
        temporaries = []
        try:
            for target in targets:
                temporaries.append(_create_temporary(target))
            yield tuple(temporaries)
            for tmp, target in zip(temporaries, targets, strict=True):
                _move_into_place_or_end(tmp, target, force)
        finally:
            for tmp in temporaries:
                _remove(tmp)
                _OPEN.discard(tmp)


@contextmanager
def atomic_output(path: str | PathLike, *, force: bool = False) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, moved to ``path`` when the block ends without error.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    >>> with atomic_output(target) as tmp:  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ...
    mastoprog.exceptions.OutputExistsError: '...out.txt' exists; pass force=True (--force) to overwrite it
    """
    with atomic_outputs(path, force=force) as (tmp,):
        yield tmp


def write_text(path: str | PathLike, text: str, *, force: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`).

    Parameters
    ----------
    path : str or path
        The file to write.
    text : str
        Its content.
    force : bool
        Replace an existing file (default: refuse with ``OutputExistsError``).
    encoding : str
        Text encoding (default UTF-8).

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_bytes(path: str | PathLike, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`).

    Parameters
    ----------
    path : str or path
        The file to write.
    data : bytes
        Its content.
    force : bool
        Replace an existing file (default: refuse with ``OutputExistsError``).

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_output(path, force=force) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _create_temporary(target: Path) -> Path:
    # os.open with O_EXCL and mode 0o666: the user's umask applies, as for a file opened by
    # name (tempfile.mkstemp would make every output 0600). The name is registered before the
    # file exists, so that a signal arriving between the two still removes it.
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.partial{target.suffix}")
        _OPEN.add(tmp)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            _OPEN.discard(tmp)
            continue
        except BaseException:
            _OPEN.discard(tmp)
            raise
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {str(target)!r}")  # pragma: no cover


def _move_into_place_or_end(tmp: Path, target: Path, force: bool) -> None:
    """:func:`_move_into_place`; a temporary removed by a signal handler ends the work as the
    signal asked (see ``_RECEIVED``), never with a FileNotFoundError about our own file."""
    try:
        _move_into_place(tmp, target, force)
    except FileNotFoundError:
        if not _RECEIVED:
            raise
        if _RECEIVED[-1] == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise SystemExit(128 + _RECEIVED[-1]) from None


def _move_into_place(tmp: Path, target: Path, force: bool) -> None:
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if the target exists: no check-then-rename race
    except FileExistsError:
        raise OutputExistsError(f"{str(target)!r} exists; pass force=True (--force) to overwrite it") \
            from None
    except OSError:  # a file system without hard links
        refuse_existing(target, force)
        os.replace(tmp, target)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _remove_open_temporaries() -> None:
    for tmp in list(_OPEN):
        _remove(tmp)
        _OPEN.discard(tmp)


def _end_process(status: int) -> NoReturn:
    """End the process now, as SIGTERM's default action does, after flushing what was printed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed, gone or replaced by None
            pass
    os._exit(status)


@contextmanager
def _signals_remove_temporaries() -> Iterator[None]:
    """While open: SIGINT and SIGTERM first remove every temporary file, then end the work."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread; exceptions still clean up
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> Any:
        before = previous[signal.Signals(signum)]
        if before is signal.SIG_IGN:
            return None
        _RECEIVED.append(int(signum))
        _remove_open_temporaries()
        if callable(before) and before is not signal.default_int_handler:
            return before(signum, frame)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        _end_process(128 + signum)

    for sig in _SIGNALS:
        signal.signal(sig, handler)
    _RECEIVED.clear()
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before if before is not None else signal.SIG_DFL)
