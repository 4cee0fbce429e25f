"""Example documents shared by the tests."""

from __future__ import annotations

import copy
from typing import Any

README_EXAMPLE: dict[str, Any] = {
    "userId": "ABC123XYZ",
    "sessionId": "XYZ456ABC",
    "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": "FDJKLHSLD"}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "NAVIGATE",
         "properties": {"pageFrom": "communities", "pageTo": "inventory"}},
    ],
}


def example(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(README_EXAMPLE)
    document.update(changes)
    return document
