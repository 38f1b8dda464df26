"""Record types (dataclass + Arrow schema), declared once. See `records.py`."""
from revmine.schemas._declare import TABLES, SchemaMismatch, Table
from revmine.schemas.records import RECORD_TYPES, Quarantine, Revision, RevisionPair, SourceStats

__all__ = ["TABLES", "Table", "SchemaMismatch", "Revision", "RevisionPair", "Quarantine", "SourceStats", "RECORD_TYPES"]
