"""An outcome event: what the service tells the systems that act on a lead (EventBridge, then a CRM, a
dialer, the vendor's callback), built from a published entry of the lead's chain (events/outcomes.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SOURCE = "tf-retainer"


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    event_id: str
    detail_type: str
    time: str
    detail: dict[str, Any]

    def detail_json(self) -> str:
        return json.dumps(self.detail, separators=(",", ":"), sort_keys=True)
