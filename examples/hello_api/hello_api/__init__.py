"""A small FastAPI service that the kit deploys as its example."""

__version__ = "1.0.0"
