"""The uploaded sheet: its type, its rows (calamine, openpyxl or csv), read and checked in chunks in a
worker thread or, for a large file, in a child process."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from types import ModuleType
from typing import Any

from fastapi import UploadFile

from services.common.errors import QSRError
from services.common.sheets import (
    ImportColumnsMissing,
    ImportFileType,
    ImportFileUnreadable,
    sheet_rows,
)
from services.registry.transfer.parser import Row, RowReader, match_headers, pack_rows, unpack_rows

CHUNK_ROWS = 2000  # rows validated, looked up and written per transaction


def _limits() -> ModuleType:
    """The package, which holds the reading limits (imported here late: it imports this module)."""
    from services.registry import transfer

    return transfer


def _sheet_rows(binary: Any, kind: str) -> Iterator[Sequence[object]]:
    """The rows of a file, header first (the kernel's reader, with this package's in-memory limit)."""
    return sheet_rows(binary, kind, in_memory_max=_limits().XLSX_IN_MEMORY_MAX_BYTES)


def _columns_of(header: Sequence[object] | None) -> dict[str, int]:
    if header is None:
        raise ImportFileUnreadable("导入文件是空的：第1行须为表头")
    return match_headers(header)


def _next_chunk(rows: Iterator[Sequence[object]], reader: RowReader, start: int) -> tuple[list[Row], int]:
    """Read and check up to CHUNK_ROWS non-blank rows; returns them and the next row number."""
    chunk: list[Row] = []
    number = start
    for raw in rows:
        row = reader.read(number, raw)
        number += 1
        if row is not None:
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                break
    return chunk, number


class ThreadSource:
    """Rows read and checked in a worker thread of the service (small files): the next chunk is read
    while the last one is written."""

    def __init__(self, binary: Any, kind: str, reader: partial[RowReader]) -> None:
        self.rows = _sheet_rows(binary, kind)
        self.make_reader = reader
        self.reader: RowReader | None = None

    async def start(self) -> frozenset[str]:
        header = await asyncio.to_thread(next, self.rows, None)
        self.reader = self.make_reader(_columns_of(header))
        return self.reader.present

    async def chunks(self) -> AsyncIterator[list[Row]]:
        assert self.reader is not None
        upcoming = asyncio.ensure_future(asyncio.to_thread(_next_chunk, self.rows, self.reader, 2))
        try:
            while True:
                chunk, number = await upcoming
                if not chunk:
                    return
                upcoming = asyncio.ensure_future(
                    asyncio.to_thread(_next_chunk, self.rows, self.reader, number)
                )
                yield chunk
        finally:
            await asyncio.wait({upcoming})  # the thread must let go of the file before it is closed

    async def close(self) -> None:
        self.rows.close()


def _load_chunk(packed: bytes) -> list[Row]:
    """A chunk from the reader process. The garbage collector is held off meanwhile: loading creates tens of
    thousands of objects at once, each batch of which set off a collection that scanned the whole heap (a
    chunk loaded in ~18 µs a row instead of ~2); nothing made here is cyclic, and it runs on once done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return unpack_rows(pickle.loads(packed))
    finally:
        if enabled:
            gc.enable()


def _read_in_child(
    path: str, kind: str, make_reader: partial[RowReader], out: Any, parent: int
) -> None:  # pragma: no cover - runs in the child process
    """The reading side of a large import: parse and check rows, hand them over in chunks (the queue is
    short, so memory stays bounded); give up if the service went away."""

    def put(message: tuple[Any, ...]) -> None:
        while True:
            try:
                out.put(message, timeout=1)
                return
            except queue.Full:
                if os.getppid() != parent:
                    raise SystemExit(0) from None

    try:
        with open(path, "rb") as binary:
            rows = _sheet_rows(binary, kind)
            reader = make_reader(_columns_of(next(rows, None)))
            put(("header", reader.present))
            number = 2
            while True:
                chunk, number = _next_chunk(rows, reader, number)
                put(("rows", pickle.dumps(pack_rows(chunk), protocol=pickle.HIGHEST_PROTOCOL)))
                if not chunk:
                    return
    except QSRError as exc:
        put(("refused", type(exc).__name__, exc.detail, exc.extra))
    except Exception as exc:
        put(("failed", f"{type(exc).__name__}: {exc}"))


_REFUSALS: dict[str, type[QSRError]] = {
    cls.__name__: cls for cls in (ImportColumnsMissing, ImportFileUnreadable, ImportFileType)
}


class ProcessSource:
    """Rows read and checked in a child process (large files), so that reading and writing use two cores."""

    def __init__(self, binary: Any, kind: str, reader: partial[RowReader]) -> None:
        fd, self.path = tempfile.mkstemp(prefix="qsr-import-", suffix=f".{kind}")
        with os.fdopen(fd, "wb") as copy:
            shutil.copyfileobj(binary, copy, 1 << 20)
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue(maxsize=4)
        self.process = context.Process(
            target=_read_in_child,
            args=(self.path, kind, reader, self.queue, os.getpid()),
            name="qsr-import-reader",
            daemon=True,
        )

    async def _get(self) -> tuple[Any, ...]:
        while True:
            try:
                message = await asyncio.to_thread(self.queue.get, True, 0.5)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError("the import reader process ended unexpectedly") from None
                continue
            if message[0] == "refused":
                raise _REFUSALS.get(message[1], ImportFileUnreadable)(message[2], **message[3])
            if message[0] == "failed":
                raise RuntimeError(message[1])
            return message

    async def start(self) -> frozenset[str]:
        await asyncio.to_thread(self.process.start)
        _, present = await self._get()
        return present

    async def chunks(self) -> AsyncIterator[list[Row]]:
        while True:
            _, packed = await self._get()
            chunk = _load_chunk(packed)
            if not chunk:
                return
            yield chunk

    async def close(self) -> None:
        if self.process.pid is not None:
            if self.process.is_alive():
                self.process.terminate()
            await asyncio.to_thread(self.process.join, 10)
        self.queue.close()
        self.queue.cancel_join_thread()
        os.unlink(self.path)


def open_source(upload: UploadFile, kind: str, reader: partial[RowReader]) -> ThreadSource | ProcessSource:
    size = upload.size if upload.size is not None else upload.file.seek(0, os.SEEK_END)
    upload.file.seek(0)
    source = ProcessSource if size >= _limits().PROCESS_READ_MIN_BYTES else ThreadSource
    return source(upload.file, kind, reader)
