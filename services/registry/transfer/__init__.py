"""批量导入导出: the ledger (台账) as one sheet, in (``POST /enterprises/import``) and out (``GET /enterprises/export``).

``parser`` reads a sheet's headers and cells (its docstring is the layout), ``files`` reads the uploaded file
in chunks, ``writer`` writes an import, ``export`` streams the ledger out, ``api`` holds the routes.
"""

from __future__ import annotations

from services.registry.transfer.api import router
from services.registry.transfer.parser import HEADERS

# How an upload is read; ``files`` looks these up here when a file comes, so that they are set in one place.
# From this size on rows are read and checked in a child process (two cores at work); below it, in a thread.
PROCESS_READ_MIN_BYTES = 1024 * 1024
# Up to this size an .xlsx is read by calamine (fast, in memory: about 600 MB at the limit, ~340,000 rows);
# a larger one is streamed by openpyxl.
XLSX_IN_MEMORY_MAX_BYTES = 32 * 1024 * 1024

__all__ = ["HEADERS", "PROCESS_READ_MIN_BYTES", "XLSX_IN_MEMORY_MAX_BYTES", "router"]
