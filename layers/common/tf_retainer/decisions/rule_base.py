"""What every rule of the buyer's rule sets is: a mode, and its own parameters (rules.py, screen_rules.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Mode = Literal["enforce", "shadow", "off"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Mode = "enforce"
