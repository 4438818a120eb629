"""Configuration: attrs sections (`config.daemon.slots`, `config.http.port`) read from an
optional TOML file and QRUN_* environment variables (the environment wins), each setting
by one flat name, structured and validated by cattrs at the edge."""

from .checks import ConfigError
from .loading import load, of, setting_names
from .sections import (
    Config,
    DaemonConfig,
    DatabaseConfig,
    HttpConfig,
    JobsConfig,
    NotifyConfig,
    RecoveryConfig,
    RetentionConfig,
    SchedulerConfig,
)
from .tables import PoolConfig, ScheduleConfig

__all__ = [
    "Config",
    "ConfigError",
    "DaemonConfig",
    "DatabaseConfig",
    "HttpConfig",
    "JobsConfig",
    "NotifyConfig",
    "PoolConfig",
    "RecoveryConfig",
    "RetentionConfig",
    "ScheduleConfig",
    "SchedulerConfig",
    "load",
    "of",
    "setting_names",
]
