"""Four-all (四全) audit: coverage, sharing, availability and control indicators over the registry, its ledgers and
the event archive, rendered as JSON, CSV or a self-contained HTML page. Only ``sharpeyes/cli.py`` and ``api/``
import this package."""
