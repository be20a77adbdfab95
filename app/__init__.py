"""contentgraph: a GraphQL content server for records and the files that belong to them."""

__version__ = "0.1.0"
