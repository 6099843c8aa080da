"""Sharp Eyes Hub core: settings, event schema, Redis keys, process supervision and the ``sharpeyes`` CLI.

Every stage package may import the core; the core imports no stage except in its composition roots,
``sharpeyes.hub``, ``sharpeyes.components``, ``sharpeyes.maintainer`` and ``sharpeyes.cli`` (what ``sharpeyes run``
and the other commands put together), which no stage imports.
"""
