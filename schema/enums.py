"""Enum refusals that name every value, not only graphql-core's close guesses.

graphql-core suggests values near a wrong one ("Did you mean 'USERS_AVATAR'?") and says
nothing for the rest: ``fileChanged(entity: PHOTOS)`` would leave the client to find the list
elsewhere. Our enums are short, so each refusal lists them all.
"""

from __future__ import annotations

from typing import Any

from graphql import ConstValueNode, GraphQLError, GraphQLSchema
from strawberry.schema.schema_converter import CustomGraphQLEnumType


class ListingEnumType(CustomGraphQLEnumType):
    """Strawberry's enum type, refusing with the full list of values."""

    def _listed(self, error: GraphQLError) -> GraphQLError:
        values = ", ".join(self.values)
        return GraphQLError(
            f"{error.message} {self.name} is one of: {values}.",
            error.nodes,
            original_error=error.original_error,
        )

    def coerce_input_value(self, input_value: str, hide_suggestions: bool = False) -> Any:
        """Variables (``{"entity": "PHOTOS"}``)."""
        try:
            return super().coerce_input_value(input_value, hide_suggestions)
        except GraphQLError as error:
            if hide_suggestions:
                raise
            raise self._listed(error) from error

    def coerce_input_literal(
        self, value_node: ConstValueNode, hide_suggestions: bool = False
    ) -> Any:
        """Literals in the document, at validation."""
        try:
            return super().coerce_input_literal(value_node, hide_suggestions)
        except GraphQLError as error:
            if hide_suggestions:
                raise
            raise self._listed(error) from error


def list_enum_values_on_refusal(schema: GraphQLSchema) -> None:
    """Make every enum Strawberry built a ListingEnumType. (Strawberry's converter has no
    hook for the class it builds; the subclass only adds to its refusals.)"""
    for graphql_type in schema.type_map.values():
        if type(graphql_type) is CustomGraphQLEnumType:
            graphql_type.__class__ = ListingEnumType
