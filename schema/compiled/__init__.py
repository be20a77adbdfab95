"""The compiled read path: see schema.compiled.reads."""

from schema.compiled.reads import CompiledReads

__all__ = ["CompiledReads"]
