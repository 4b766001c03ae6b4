"""The services of the platform by their command names (`mis serve NAME`).

The stage services come from the pipeline's stage declarations
(services/coordinator/stages/), in pipeline order; the judge (which the
cot-annotator and other teams call) and the coordinator are the two services
that are not pipeline stages. The local stack, the CLI, the chart tests and
the settings reference read these tables; a new stage appears here by being
declared.
"""

from __future__ import annotations

import importlib
from typing import Callable

from services.coordinator.stages import PIPELINE

# Services other than pipeline stages: command name -> package under services/.
_OTHER_SERVICES = {"judge": "judge", "coordinator": "coordinator"}

# Command name -> module with `main() -> int`, in pipeline order.
SERVICES: dict[str, str] = {
    **{stage.service: f"services.{stage.module}.server" for stage in PIPELINE},
    **{name: f"services.{package}.server" for name, package in _OTHER_SERVICES.items()},
}

# The services others reach by address, with the variable naming each address.
ADDRESS_VARIABLES: dict[str, str] = {
    **{stage.service: stage.address_variable for stage in PIPELINE},
    "judge": "MIS_JUDGE_ADDRESS",
}


def entry_point(name: str) -> Callable[[], int]:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")
    return importlib.import_module(SERVICES[name]).main
