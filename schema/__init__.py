"""The GraphQL face of contentgraph: Strawberry types over the services."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.config import Settings
from schema.context import OperationContext
from schema.cost import NodeLimit
from schema.errors import ErrorCodes
from schema.mutations.albums import AlbumMutations
from schema.mutations.auth import AuthMutations
from schema.mutations.contacts import ContactMutations
from schema.mutations.files import FileMutations
from schema.mutations.roles import RoleMutations
from schema.mutations.users import UserMutations
from schema.queries import Query as ContentQueries
from schema.queries_users import UserQueries
from schema.scalars import SCALAR_MAP
from schema.subscriptions import Subscription
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.photo import Photo
from schema.types.stored_file import StoredFile
from schema.types.user import Role, User


@strawberry.type
class Query(ContentQueries, UserQueries):
    pass


@strawberry.type
class Mutation(
    AuthMutations, ContactMutations, AlbumMutations, FileMutations, UserMutations, RoleMutations
):
    pass


class Schema(strawberry.Schema):
    #: The limiters' validation rules, for validating outside Strawberry (schema.compiled).
    limit_rules: list[Any]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client mistakes are not server errors: ErrorCodes logs only the unexpected ones."""


def build_schema(settings: Settings) -> Schema:
    limit_rules = [
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
    ]
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Contact, Album, Photo, StoredFile, User, Role],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
        extensions=[
            OperationContext,
            ErrorCodes,
            lambda: ParserCache(maxsize=1024),
            # The limiters' rule classes are built once: ValidationCache keys on the rules, and
            # a fresh QueryDepthLimiter per request made a fresh rule class - every request
            # missed the cache and re-validated (47% of a small query's time).
            lambda: AddValidationRules(limit_rules),
            lambda: ValidationCache(maxsize=1024),
            lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
            lambda: NodeLimit(
                max_nodes=settings.max_query_nodes, default_page_size=settings.page_size_default
            ),
        ],
    )
    schema.limit_rules = limit_rules
    return schema
