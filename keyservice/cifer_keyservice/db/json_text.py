"""The text of one member of a JSON column, compiled with its key written out, the same way in a
query and in an index.

SQLite and PostgreSQL use an expression index only for a query whose expression is the same as the
index's, and SQLAlchemy's `column["key"].as_string()` binds the key as a parameter in a query
(`JSON_EXTRACT(details, ?)`) but writes it out in DDL: the index would never serve. This element
writes the key in both: SQLite `CAST(JSON_EXTRACT(details, '$."key"') AS VARCHAR)`, PostgreSQL
`CAST((details ->> 'key') AS VARCHAR)`. Keys are identifiers chosen in code, never input."""

from __future__ import annotations

import re

from sqlalchemy import String, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_KEY = re.compile(r"[a-z_]{1,64}")


class json_text(FunctionElement):  # noqa: N801 - SQLAlchemy's naming for SQL functions
    type = String()
    inherit_cache = True  # the key is a clause (a literal column), so it is part of the cache key

    def __init__(self, column, key: str) -> None:
        if not _KEY.fullmatch(key):
            raise ValueError(f"internal error: {key!r} is not a JSON member name")
        super().__init__(column, literal_column(f"'{key}'"))


def _parts(element: json_text, compiler, **kw) -> tuple[str, str]:
    column, key = element.clauses
    return compiler.process(column, **kw), key.name.strip("'")


@compiles(json_text, "sqlite")
def _sqlite(element: json_text, compiler, **kw) -> str:
    column, key = _parts(element, compiler, **kw)
    return f"CAST(JSON_EXTRACT({column}, '$.\"{key}\"') AS VARCHAR)"


@compiles(json_text, "postgresql")
def _postgresql(element: json_text, compiler, **kw) -> str:
    column, key = _parts(element, compiler, **kw)
    return f"CAST(({column} ->> '{key}') AS VARCHAR)"
