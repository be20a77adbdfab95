"""Limits on what one GraphQL document may cost, checked before anything runs.

Every check is linear in the document (fragments are measured once and reused), so a small
crafted document cannot stall the process: bytes and tokens bound parsing, one validation
rule bounds depth, aliases and the work of checking that fields merge, and the node count
bounds what the operation may fetch. Each refusal answers QUERY_TOO_COMPLEX and names its
limit in ``extensions.limit``.
"""

from schema.limits.budget import Limits, too_complex
from schema.limits.documents import Documents
from schema.limits.guard import DocumentGuard

__all__ = ["DocumentGuard", "Documents", "Limits", "too_complex"]
