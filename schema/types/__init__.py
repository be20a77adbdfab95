"""GraphQL object types: thin views over the ORM rows, built once per row."""
