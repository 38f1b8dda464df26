"""Record types (dataclass + Arrow schema), declared once. See `records.py`."""
from revmine.schemas._declare import TABLES, SchemaMismatch, Table
from revmine.schemas.records import (RECORD_TYPES, Alignment, DiffStats, Edit, NodeChange, Quarantine, Revision,
                                     RevisionPair, Sentence, SourceStats, Summary)

__all__ = ["TABLES", "Table", "SchemaMismatch", "Revision", "RevisionPair", "Quarantine", "SourceStats", "Sentence",
           "Alignment", "Edit", "NodeChange", "DiffStats", "Summary", "RECORD_TYPES"]
