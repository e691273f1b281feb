"""Data out: tidy tables (Arrow, pandas, Parquet, CSV) and MCAP for Foxglove.

    from pdlogkit.export import export_log, record_batches, table_schema
    export_log("run.pdlz", "run-tables")             # a folder: one Parquet file per table
    export_log("run.pdlz", "run.mcap")               # MCAP, for Foxglove

`Log.table(kind)` and `Log.to_pandas(kind)` are the same tables, on every log.
The tables need the optional dependencies pyarrow and pandas
(`pip install 'pdlogkit[tables]'`); MCAP needs nothing beyond pdlogkit itself.
Names are loaded on first use, so `import pdlogkit.export` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError

if TYPE_CHECKING:
    from .mcap import write_mcap
    from .run import ExportReport, export_log
    from .schemas import TABLES, decode_metadata, table_schema
    from .tables import BATCH_ROWS, record_batches, table, to_pandas

#: The extra that installs each optional dependency.
EXTRAS = {"pyarrow": "tables", "pandas": "tables", "numpy": "tables"}

_NAMES = {
    "BATCH_ROWS": "tables",
    "record_batches": "tables",
    "table": "tables",
    "to_pandas": "tables",
    "TABLES": "schemas",
    "table_schema": "schemas",
    "decode_metadata": "schemas",
    "ExportReport": "run",
    "export_log": "run",
    "write_mcap": "mcap",
}


def missing(package: str) -> MissingDependencyError:
    """The error for a missing optional dependency, naming the extra that installs it."""
    extra = EXTRAS.get(package, "tables")
    return MissingDependencyError(f"this needs {package}, which is not installed: pip install 'pdlogkit[{extra}]'")


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        loaded = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name in EXTRAS:
            raise missing(exc.name) from None
        raise
    return getattr(loaded, name)


__all__ = [
    "BATCH_ROWS",
    "TABLES",
    "ExportReport",
    "decode_metadata",
    "export_log",
    "missing",
    "record_batches",
    "table",
    "table_schema",
    "to_pandas",
    "write_mcap",
]
