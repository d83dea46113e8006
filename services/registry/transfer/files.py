"""The uploaded sheet: its type, its rows (calamine, openpyxl or csv), read and checked in chunks in a
worker thread or, for a large file, in a child process."""

from __future__ import annotations

import asyncio
import codecs
import csv
import gc
import io
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from types import ModuleType
from typing import Any, Literal

import python_calamine
from fastapi import UploadFile
from openpyxl import load_workbook

from services.common.errors import QSRError
from services.registry.transfer.errors import ImportColumnsMissing, ImportFileType, ImportFileUnreadable
from services.registry.transfer.parser import Row, RowReader, match_headers, pack_rows, unpack_rows

CHUNK_ROWS = 2000  # rows validated, looked up and written per transaction


def _limits() -> ModuleType:
    """The package, which holds the reading limits (imported here late: it imports this module)."""
    from services.registry import transfer

    return transfer


def sniff(upload: UploadFile) -> Literal["xlsx", "csv"]:
    head = upload.file.read(8)
    upload.file.seek(0)
    name = (upload.filename or "").lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if name.endswith((".xlsx", ".xls", ".xlsm")) or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileType("不支持该 Excel 格式，请另存为 .xlsx 或 .csv（UTF-8）后再导入")
    if name.endswith((".csv", ".txt")) or (upload.content_type or "").startswith("text/"):
        return "csv"
    raise ImportFileType("仅支持 .xlsx 或 .csv 文件")


_NOT_TEXT = "文件不是有效的 UTF-8 或 GB18030（GBK）编码的 CSV，请在 Excel 中另存为“CSV UTF-8”后重试"


def _first_bad_line(binary: io.BufferedIOBase | Any, encoding: str) -> int | None:
    """The line (as the sheet numbers it) of the first byte that ``encoding`` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    while block := binary.read(1 << 20):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            return line + block.count(b"\n", 0, max(exc.start, 0))
        line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line
    return None


def _csv_encoding(binary: io.BufferedIOBase | Any) -> str:
    """UTF-8 (with or without BOM) if the whole file is UTF-8, else GB18030 (which includes GBK and GB2312),
    else refused, naming the first line that is neither."""
    try:
        if _first_bad_line(binary, "utf-8") is None:
            return "utf-8-sig"
        binary.seek(0)
        line = _first_bad_line(binary, "gb18030")
        if line is None:
            return "gb18030"
        raise ImportFileUnreadable(f"{_NOT_TEXT}（第 {line} 行起无法识别）")
    finally:
        binary.seek(0)


_NOT_XLSX = "无法读取该 .xlsx 文件：文件可能已损坏，或不是 Excel 工作簿；请用 Excel 打开后另存为 .xlsx 再导入"


def _size_of(binary: Any) -> int:
    size = binary.seek(0, os.SEEK_END)
    binary.seek(0)
    return size


def _calamine_rows(binary: Any) -> Iterator[Sequence[object]]:
    """The first sheet through calamine (about ten times faster than openpyxl, but it holds the whole sheet in
    memory: some 18 bytes per byte of file). Rows start at the sheet's first row, so numbers match; columns
    start at the first used one, which is harmless because columns are found by their headers."""
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(binary)
        if not workbook.sheet_names:
            raise ImportFileUnreadable("该 .xlsx 文件没有工作表")
        rows = workbook.get_sheet_by_index(0).iter_rows()
    except ImportFileUnreadable:
        raise
    except Exception as exc:  # calamine raises its own kinds for a file that is not a workbook
        raise ImportFileUnreadable(_NOT_XLSX) from exc
    yield from rows


def _sheet_rows(binary: Any, kind: str) -> Iterator[Sequence[object]]:
    """The rows of a file, header first, blank rows included (so numbers match the sheet)."""
    if kind == "xlsx" and _size_of(binary) <= _limits().XLSX_IN_MEMORY_MAX_BYTES:
        yield from _calamine_rows(binary)
        return
    if kind == "xlsx":  # streamed by openpyxl: slower, but memory does not grow with the file
        try:
            workbook = load_workbook(binary, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise ImportFileUnreadable(_NOT_XLSX) from exc
        try:
            if not workbook.worksheets:
                raise ImportFileUnreadable("该 .xlsx 文件没有工作表")
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers store a wrong size; read every row there is
            yield from sheet.iter_rows(values_only=True)
        finally:
            workbook.close()
        return
    encoding = _csv_encoding(binary)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    reader = csv.reader(text)
    try:
        yield from reader
    except UnicodeDecodeError as exc:  # checked above; kept so that no codec's text reaches the caller
        raise ImportFileUnreadable(_NOT_TEXT) from exc
    except csv.Error as exc:  # a NUL byte (a binary file), a field over the size limit
        raise ImportFileUnreadable(
            f"CSV 文件格式有误（第 {reader.line_num} 行）：可能不是文本文件，或某个单元格过长"
        ) from exc
    finally:
        text.detach()


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
