"""Use cases: one transaction each, no GraphQL in sight."""
