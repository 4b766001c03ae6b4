"""The services of the platform by their command names (`mis serve NAME`).

The local stack, the CLI and the tests read this one table; adding a service
is one line here plus its folder.
"""

from __future__ import annotations

import importlib
from typing import Callable

# Command name -> module with `main() -> int`, in pipeline order.
SERVICES: dict[str, str] = {
    "extractor": "services.extractor.server",
    "detoxifier": "services.detoxifier.server",
    "t2i-refiner": "services.t2i_refiner.server",
    "filter": "services.filter.server",
    "cot-annotator": "services.cot_annotator.server",
    "judge": "services.judge.server",
    "coordinator": "services.coordinator.server",
}

# The stage services the coordinator calls, with the variable naming each address.
ADDRESS_VARIABLES: dict[str, str] = {
    "extractor": "MIS_EXTRACTOR_ADDRESS",
    "detoxifier": "MIS_DETOXIFIER_ADDRESS",
    "t2i-refiner": "MIS_T2I_REFINER_ADDRESS",
    "filter": "MIS_FILTER_ADDRESS",
    "cot-annotator": "MIS_COT_ANNOTATOR_ADDRESS",
    "judge": "MIS_JUDGE_ADDRESS",
}


def entry_point(name: str) -> Callable[[], int]:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")
    return importlib.import_module(SERVICES[name]).main
