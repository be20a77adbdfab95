"""Relational storage: SQLAlchemy 2 models, the engine and the queries loaders share."""
