"""Sharp Eyes Hub core: settings, event schema, Redis keys, process supervision and the ``sharpeyes`` CLI.

Every stage package may import the core; the core imports no stage except in ``sharpeyes.hub`` (the composition
root used by ``sharpeyes run``).
"""
