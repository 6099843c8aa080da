"""The strict pydantic base every configuration and contract model derives from: unknown keys are errors.

Subclasses add to the config (``model_config = ConfigDict(frozen=True)`` merges with this one).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that refuses unknown fields, so a typo in YAML or JSON names the offending key."""

    model_config = ConfigDict(extra="forbid")
