"""One validation rule for every limit on a document's shape, and for field merging.

It replaces Strawberry's depth and alias limiters (which walked every path through the
fragments) and graphql-core's OverlappingFieldsCanBeMergedRule (which compared every pair of
fields sharing a response name): see measures.py and merging.py. The merge check runs only
on documents that passed the shape limits and whose fragments are known and acyclic -
graphql-core's own rules report the others - so its recursion always ends.
"""

from __future__ import annotations

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
)

from schema.limits.budget import Budget, Limits, WorkExceeded, too_complex
from schema.limits.measures import Measurer
from schema.limits.merging import MergeChecker


def document_limits_rule(limits: Limits) -> type[ValidationRule]:
    class DocumentLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for error in check_document(context, limits):
                self.report_error(error)

    return DocumentLimitsRule


def _too_deep() -> GraphQLError:
    return too_complex("the document nests too deeply to be checked", "depth")


def check_document(context: ValidationContext, limits: Limits) -> list[GraphQLError]:
    document = context.document
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measurer = Measurer(fragments)
    try:
        measures = [(o, measurer.selection_set(o.selection_set)) for o in operations]
    except RecursionError:
        return [_too_deep()]
    errors: list[GraphQLError] = []
    for operation, measure in measures:
        if measure.depth > limits.max_depth:
            name = operation.name.value if operation.name else "the operation"
            errors.append(
                too_complex(
                    f"{name} is {measure.depth} levels deep; at most {limits.max_depth} "
                    "are allowed",
                    "depth",
                    depth=measure.depth,
                    maxDepth=limits.max_depth,
                )
            )
    aliases = sum(measure.aliases for _, measure in measures)
    if aliases > limits.max_aliases:
        errors.append(
            too_complex(
                f"the document uses {aliases} aliases (fragments expanded); at most "
                f"{limits.max_aliases} are allowed",
                "aliases",
                aliases=aliases,
                maxAliases=limits.max_aliases,
            )
        )
    if errors or measurer.cyclic or measurer.unknown_fragment:
        return errors
    checker = MergeChecker(context.schema, fragments, Budget(limits.max_work))
    try:
        for operation in operations:
            checker.check(
                context.schema.get_root_type(operation.operation), operation.selection_set
            )
    except WorkExceeded:
        return [
            too_complex(
                f"checking that the document's fields can be merged needs more than "
                f"{limits.max_work} units of work",
                "validationWork",
                maxWork=limits.max_work,
            )
        ]
    except RecursionError:
        return [_too_deep()]
    return [conflict.error() for conflict in checker.conflicts]
