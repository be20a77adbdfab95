"""An operation's depth and aliases, each fragment measured once.

graphql-core's and Strawberry's limiters walk every path through the fragments: a fragment
that spreads the next one twice, twenty levels deep, made them do 2^20 walks. Here a
fragment's measure is computed the first time it is spread and reused after, so the work is
linear in the document however the fragments fan out. Aliases are still counted as they
expand (a fragment with 3 aliases spread 4 times holds 12), as plain integers.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)


@dataclass(frozen=True, slots=True)
class Measure:
    #: Levels of fields with selections below this point (introspection not counted).
    depth: int
    #: Aliases below this point, fragments expanded.
    aliases: int


NOTHING = Measure(0, 0)


def is_introspection(field: FieldNode) -> bool:
    """``__schema`` and ``__type``: deep by nature, and bounded by graphql-core's own
    MaxIntrospectionDepthRule instead."""
    return field.name.value.startswith("__")


class Measurer:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self._measured: dict[str, Measure] = {}
        self._open: set[str] = set()
        #: Seen while measuring: the document is invalid (graphql-core reports why) and
        #: must not be walked by anything that follows spreads without these guards.
        self.cyclic = False
        self.unknown_fragment = False

    def selection_set(self, selection_set: SelectionSetNode) -> Measure:
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    inner = self.selection_set(selection.selection_set)
                    aliases += inner.aliases
                    if not is_introspection(selection):
                        depth = max(depth, 1 + inner.depth)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, inner.depth), aliases + inner.aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
                depth, aliases = max(depth, inner.depth), aliases + inner.aliases
        return Measure(depth, aliases)

    def fragment(self, name: str) -> Measure:
        found = self._measured.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None:
            self.unknown_fragment = True
            return NOTHING
        if name in self._open:
            self.cyclic = True
            return NOTHING
        self._open.add(name)
        try:
            measure = self.selection_set(definition.selection_set)
        finally:
            self._open.discard(name)
        self._measured[name] = measure
        return measure
