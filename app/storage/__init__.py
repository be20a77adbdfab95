"""File storage: storage entities, blob stores, and the consistency tools."""
