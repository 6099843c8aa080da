"""The strict pydantic base every configuration and contract model derives from: unknown keys are errors.

Subclasses add to the config (``model_config = ConfigDict(frozen=True)`` merges with this one).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A pydantic model that refuses unknown fields, so a typo in YAML or JSON names the offending key."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_yaml_file(cls, path: Path | None, *, package: str, default: str) -> Self:
        """The model in the YAML file ``path``, or in the file ``default`` shipped in ``package`` when ``path`` is
        None. A broken file is a ``ValueError`` naming the file, the field and what is wrong."""
        if path is None:
            text, where = (resources.files(package) / default).read_text(encoding="utf-8"), f"{package}/{default}"
        else:
            text, where = path.read_text(encoding="utf-8"), str(path)
        try:
            return cls.model_validate(yaml.safe_load(text) or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}: {loc}: {first['msg']}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{where}: YAML syntax error: {exc}") from None
