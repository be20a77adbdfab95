"""HTTP face: the GraphQL endpoint, GraphiQL, health probes."""
