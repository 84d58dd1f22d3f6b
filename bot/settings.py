"""Typed settings from the environment (and an optional ``.env`` file).

Names are the project's interface: KNOWLEDGE_DIR, DEFAULT_TIMEZONE, LOG_LEVEL. Channel
settings (tokens, ports) join here with their channels; secrets only ever come from the
environment.
"""
from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


class Settings(BaseSettings):
    """Settings of one bot process.

    Attributes:
        knowledge_dir: folder of the knowledge YAML (env KNOWLEDGE_DIR); default: the
            bundled ``knowledge/`` of this checkout.
        default_timezone: IANA zone for times given without one (env DEFAULT_TIMEZONE).
        log_level: logging level name (env LOG_LEVEL).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    knowledge_dir: Path = BUNDLED_KNOWLEDGE
    default_timezone: str = "Africa/Casablanca"
    log_level: str = "WARNING"
