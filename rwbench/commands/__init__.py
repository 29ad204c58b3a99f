"""CLI commands that do not belong to a single library module."""
