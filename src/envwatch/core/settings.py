"""Settings: every limit and default of the platform, overridable by ``ENVWATCH_*`` variables.

DESIGN convention 2: limits are explicit. Each field below is one limit or default with a safe value;
a province or an operator changes them through the environment (or a ``.env`` file) without code.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENVWATCH_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(default=Path("var"), description="embedded store, tokens and logs live here")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite in WAL mode at <data_dir>/envwatch.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    sqlite_synchronous: str = Field(
        default="FULL",
        description="FULL makes every commit durable on power loss (an acknowledged packet is never lost)",
    )

    # --- gateway (HJ 212 over TCP) ---------------------------------------------------------------
    gateway_host: str = "0.0.0.0"
    gateway_port: int = 8212
    max_connections: int = Field(default=5000, ge=1)
    idle_timeout_s: float = Field(default=600.0, gt=0, description="close a connection silent this long")
    max_frame_bytes: int = Field(
        default=4096,
        ge=64,
        description="frame cap; the standard says 1036 bytes but field devices send ~1.7 KB",
    )
    connection_buffer_bytes: int = Field(
        default=65536, ge=1024, description="unparsed bytes one connection may hold before it is paused"
    )
    auth_failures_before_close: int = Field(
        default=3,
        ge=1,
        description="unknown MN / wrong PW packets tolerated on one connection before closing it",
    )
    reassembly_timeout_s: float = Field(default=60.0, gt=0, description="PNUM/PNO parts wait this long")
    registry_refresh_s: float = Field(default=5.0, gt=0, description="how often the gateway reloads devices")
    commands_poll_s: float = Field(
        default=1.0, gt=0, description="how often the gateway looks for new commands"
    )
    command_overtime_s: float = Field(default=10.0, gt=0, description="HJ 212 Table 1 default OverTime")
    command_recount: int = Field(default=3, ge=0, description="HJ 212 Table 1 default ReCount")

    # --- writer (group commit) -------------------------------------------------------------------
    device_seen_write_s: float = Field(
        default=5.0,
        ge=0,
        description="store a device's last_seen at most this often (it may lag by this much; 0 = every packet)",
    )
    writer_batch_max: int = Field(default=2000, ge=1, description="packets per transaction at most")
    writer_queue_max: int = Field(
        default=20000, ge=10, description="packets waiting for the writer before every connection is paused"
    )

    max_attachment_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="largest attachment (附件) accepted, in bytes"
    )

    # --- data validity and aggregation (monitoring.validity, monitoring.aggregation) -----------------

    # --- marks (标记, monitoring.marks) -------------------------------------------------------------

    # --- effective transmission rates (有效传输率, monitoring.rates) ---------------------------------

    # --- HTTP ------------------------------------------------------------------------------------
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    admin_token: str | None = Field(
        default=None,
        description="API token of the admin; unset means one is generated in <data_dir>/admin_token",
    )

    # --- working-day calendar (工作日, core.workdays) ------------------------------------------------
    extra_holidays: list[date] = Field(
        default_factory=list,
        description="extra days off (法定节假日 / local holidays), JSON list of ISO dates; they win over the "
        "chinese-calendar package. Listing any date of a year the package does not know declares that "
        "year's exceptions complete (other days follow Mon–Fri)",
    )
    extra_workdays: list[date] = Field(
        default_factory=list,
        description="extra working days (调休上班, e.g. a Saturday worked in lieu), JSON list of ISO dates; "
        "they win over the chinese-calendar package; same year rule as extra_holidays",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'envwatch.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
