"""Resource ids: 24-hex strings shaped like MongoDB ObjectIds, as the original web client expects.

Time-ordered (the first 4 bytes are a timestamp), unique across processes, and the same
string is served as both `_id` and `id`.
"""

from bson import ObjectId


def new_id() -> str:
    return str(ObjectId())


def is_valid_id(value) -> bool:
    return isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24
