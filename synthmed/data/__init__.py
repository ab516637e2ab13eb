"""Data layer: schema inference, validation, reversible transforms, EHR code matrices."""

from synthmed.data.database import DatabaseTable, write_database
from synthmed.data.inference import infer_schema
from synthmed.data.io import read_table, write_table
from synthmed.data.layout import ColumnLayout, Span
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
from synthmed.data.transform import TableTransformer
from synthmed.data.validate import MIN_ROWS, validate_table

__all__ = [
    "MIN_ROWS",
    "ColumnKind",
    "ColumnLayout",
    "ColumnSchema",
    "DatabaseTable",
    "Schema",
    "Span",
    "TableTransformer",
    "infer_schema",
    "read_table",
    "validate_table",
    "write_database",
    "write_table",
]
