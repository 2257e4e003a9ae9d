"""segdb: a lab archive for calcium-imaging segmentations."""

from segdb.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SchemaVersionError,
    SegDBError,
)

__version__ = "0.1.0"
