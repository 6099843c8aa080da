"""API and web UI (FastAPI). Reads the registry and event streams. No stage imports this package; only the
composition root does (the hub builds ``api.deps.ApiDeps``, the CLI serves ``api.app.create_app``)."""
