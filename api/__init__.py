"""API and web UI (FastAPI). Reads the registry and event streams. Nothing imports this package."""
