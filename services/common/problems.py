"""One thing wrong with entered data, found by a pure check before anything is stored: the field, the error it
raises (its stable code) and a Chinese message. A check returns every problem; a 422 lists them in ``errors``,
an import reports them per row."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import QSRError


@dataclass(frozen=True)
class Problem:
    field: str
    error: type[QSRError]
    message: str

    @property
    def code(self) -> str:
        return self.error.code

    def public(self) -> dict[str, str]:
        """The entry of the problem body's ``errors``."""
        return {"field": self.field, "code": self.code, "message": self.message}
