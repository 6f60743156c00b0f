"""Pydantic request/response schemas, separate from the SQLAlchemy tables."""
