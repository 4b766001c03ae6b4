"""Settings of the extractor service."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import ServerSettings, StoreSettings
from services.common.settings import group


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
