"""The one typed settings object of hotline.

Read from, in order of precedence: keyword arguments, ``HOTLINE_*`` environment variables
(nested keys joined with ``__``, e.g. ``HOTLINE_AMI__SECRET``), the TOML file
(``hotline.toml`` in the working directory, or the path in ``HOTLINE_CONFIG``), and the embedded
defaults below, which need nothing installed: SQLite, the built-in PBX simulator's address, and
web pages on loopback.

A bad value stops start-up with :class:`ConfigError`, whose message names the key (dotted, as
in the TOML file), what was given and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from hotline.domain.enums import CallingWindow, TaskType

DEFAULT_CONFIG_FILE = "hotline.toml"
# A PBX name goes into spool file names and store keys: letters, digits, "_", "." and "-".
PBX_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
_config_file: ContextVar[str | None] = ContextVar("hotline_config_file", default=None)
Port = Annotated[int, Field(ge=1, le=65535)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class ConfigError(Exception):
    """Configuration that hotline refuses to start with; the message names every bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/hotline.db"
    # Kept apart from the URL so that it can come from a secret store or an environment
    # variable without ever being written into a file; it is never shown or logged.
    password: SecretStr | None = None
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _parse_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
            raise ValueError(f"not a database URL ({exc})") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    def sqlalchemy_url(self) -> Any:
        """The URL to connect with, password included; never print it."""
        url = make_url(self.url)
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if self.password is not None:
            url = url.set(password=self.password.get_secret_value())
        return url

    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


class AmiSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 5038
    username: str = "hotline"
    # Not the word "hotline": every secret is scrubbed from the logs, and a secret that is also
    # the product's name would blank out half of every log line.
    secret: SecretStr = SecretStr("hotline-ami-secret")
    # A Ping unanswered for ping_timeout seconds marks the link dead.
    ping_interval: PositiveSeconds = 5.0
    ping_timeout: PositiveSeconds = 3.0
    action_timeout: PositiveSeconds = 5.0
    reconnect_min: PositiveSeconds = 0.5
    reconnect_max: PositiveSeconds = 30.0
    # Name of this Asterisk server; calls are unique per (pbx, linkedid) so that several
    # bridges, one per Asterisk server, can share one database. It is part of every call key
    # ("pbx1:<linkedid>") and of every spool file name, hence the restricted characters.
    pbx_name: str = Field(default="pbx1", min_length=1, max_length=64, pattern=PBX_NAME_PATTERN)


class AgiSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 4573


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    # Signs session cookies; set it in production so sessions survive restarts.
    session_secret: SecretStr | None = None
    # The live feed across processes (PostgreSQL LISTEN/NOTIFY on channel "hotline_live"):
    # "auto" relays it when the database is PostgreSQL (a process with a bridge publishes its
    # live events, every web process listens); "off" keeps each process's feed to itself.
    # SQLite has no relay (one process).
    live_relay: Literal["auto", "off"] = "auto"


class RingSettings(_Section):
    """Ring cadence and the answer window (rule 1.1: answer between ring 3 and ring 5)."""

    # Mainland China ring cadence: 1 s on, 4 s off, so one ring every 5 s.
    on_seconds: PositiveSeconds = 1.0
    off_seconds: Annotated[float, Field(ge=0)] = 4.0
    answer_min_ring: Annotated[int, Field(ge=1, le=20)] = 3
    answer_max_ring: Annotated[int, Field(ge=1, le=20)] = 5
    # After this many ring-no-answers in a row an agent is paused with reason ring-no-answer.
    no_answer_pause_after: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _window(self) -> RingSettings:
        if self.answer_max_ring < self.answer_min_ring:
            raise ValueError(
                f"answer_max_ring ({self.answer_max_ring}) must be at least "
                f"answer_min_ring ({self.answer_min_ring})"
            )
        return self

    @property
    def period(self) -> float:
        return self.on_seconds + self.off_seconds


def _parse_clock(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            hh, mm = value.split(":")
            return dt.time(int(hh), int(mm))
        except ValueError:
            pass
    raise ValueError(f"expected a clock time HH:MM, got {value!r}")


Clock = Annotated[dt.time, Field(description="HH:MM in the hotline's time zone")]


class AgentSettings(_Section):
    """Agents' working states that the bridge keeps."""

    # After a conversation a ready agent is in wrap-up (writing the consultation record) for
    # this long, unless they set themselves ready sooner; 0: straight back to ready.
    wrap_up_seconds: Annotated[float, Field(ge=0)] = 30.0


class HoursSettings(_Section):
    """Business hours with a midday rest period, in the hotline's time zone."""

    open: Clock = dt.time(8, 0)
    close: Clock = dt.time(20, 0)
    rest_start: Clock | None = dt.time(12, 0)
    rest_end: Clock | None = dt.time(14, 0)
    # Working days follow the mainland-China calendar of the holidays package, with its
    # adjusted working weekends; set to "none" to work every day.
    calendar: Literal["CN", "none"] = "CN"

    @field_validator("open", "close", "rest_start", "rest_end", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> dt.time | None:
        return None if value in (None, "") else _parse_clock(value)

    @field_serializer("open", "close", "rest_start", "rest_end")
    def _show_clock(self, value: dt.time | None) -> str | None:
        return None if value is None else value.strftime("%H:%M")

    @model_validator(mode="after")
    def _order(self) -> HoursSettings:
        if self.close <= self.open:
            raise ValueError(f"close ({self.close:%H:%M}) must be after open ({self.open:%H:%M})")
        if (self.rest_start is None) != (self.rest_end is None):
            raise ValueError("rest_start and rest_end must be given together")
        if self.rest_start is not None and self.rest_end is not None:
            if not (self.open <= self.rest_start < self.rest_end <= self.close):
                raise ValueError(
                    "the rest period must lie inside business hours "
                    f"({self.open:%H:%M}-{self.close:%H:%M})"
                )
        return self


SoundName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9_./-]+$",
        description="a sound without extension: a name (resolved by whoever plays it) or an "
        "absolute path",
    ),
]
class Festival(_Section):
    """One greeting day (a festival or a solar term); lunar dates differ every year, so each
    entry is a full date."""

    date: dt.date
    name: str = Field(min_length=1, max_length=64)


class SchedulerSettings(_Section):
    """The outbound scheduler: calling windows, retries, pacing and the rules' parameters."""

    enabled: bool = True
    # agent_first: ring the agent, then dial the customer once the agent answered;
    # customer_first: dial the customer, play a prompt, then wait for an agent (the IVR).
    mode: Literal["agent_first", "customer_first"] = "agent_first"
    # Attempts after the first one for no answer, busy or failed; then the task fails.
    retries: Annotated[int, Field(ge=0, le=20)] = 2
    retry_delay_seconds: PositiveSeconds = 600.0
    # When the agent (not the customer) could not take the call, try again this much later;
    # it does not use up one of the customer's attempts.
    agent_retry_delay_seconds: PositiveSeconds = 60.0
    # Pacing: at most this many outbound calls at once, and this many new ones per second.
    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] = 10
    new_calls_per_second: Annotated[float, Field(gt=0, le=1000)] = 2.0
    # A task owned by one agent and overdue (past its due time) by this much goes to any agent.
    overdue_reassign_after_seconds: PositiveSeconds = 1800.0
    # An agent's follow-ups are handed to another agent this long before the leave starts.
    leave_handover_hours: Annotated[float, Field(ge=0)] = 24.0
    # How often the planning tick runs the rules and wakes the dialler.
    tick_seconds: PositiveSeconds = 30.0
    # When the daily rules (birthday, festival) run, in the hotline's zone; top customers run
    # at the same time on the 1st and 16th of each month.
    daily_at: Clock = dt.time(0, 5)
    # Leader election: a leader that could not confirm its lock for this long stops dialling,
    # and a new leader waits this long before resolving the old leader's open attempts.
    lease_seconds: PositiveSeconds = 15.0
    standby_poll_seconds: PositiveSeconds = 5.0
    # How often the leader compares its open attempts with the PBX's live channels.
    reconcile_seconds: PositiveSeconds = 5.0
    # Seconds the agent's phone (agent first) or the customer's (customer first) may ring;
    # default: the ring policy's deadline (answer_max_ring rings).
    originate_timeout_seconds: PositiveSeconds | None = None
    caller_id: str = Field(default="hotline", min_length=1, max_length=64)
    # A dropped call's callback counts as on time within this many minutes of the window
    # opening after the drop (rule 1.15 says "immediately").
    dropped_call_sla_minutes: Annotated[int, Field(ge=1)] = 15
    follow_up_interval_hours: Annotated[float, Field(gt=0)] = 48.0
    # Customers without an agent are assigned to balance the number per agent (rule 8.23).
    assign_new_customers: bool = True
    first_contact_days: Annotated[int, Field(ge=1)] = 7
    top_customers_per_department: Annotated[int, Field(ge=1, le=100)] = 3
    festivals: list[Festival] = []
    # Who gets festival greeting calls.
    festival_audience: list[Literal["vip", "member", "key_account", "all"]] = [
        "vip",
        "member",
        "key_account",
    ]
    # Calling window per task type, overriding the defaults (dropped-call, birthday and
    # festival: business hours on any day; the rest: business hours on working days).
    windows: dict[TaskType, CallingWindow] = {}

    @field_validator("daily_at", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> dt.time:
        return _parse_clock(value)

    @field_serializer("daily_at")
    def _show_clock(self, value: dt.time) -> str:
        return value.strftime("%H:%M")

    @field_validator("festivals")
    @classmethod
    def _unique_festival_dates(cls, value: list[Festival]) -> list[Festival]:
        seen: set[dt.date] = set()
        for fest in value:
            if fest.date in seen:
                raise ValueError(f"festival date {fest.date} is listed twice")
            seen.add(fest.date)
        return value

    @property
    def max_attempts(self) -> int:
        return self.retries + 1


class RecordingSettings(_Section):
    store_dir: Path = Path("var/recordings")
    # Where MixMonitor writes every answered call; must be the directory Asterisk writes to.
    spool_dir: Path = Path("var/spool")
    flag_grace_minutes: Annotated[int, Field(ge=0)] = 10
    retention_days: Annotated[int, Field(ge=1)] = 3 * 365
    # Browser-playable copies made on demand (key: sha256 + format), trimmed to this size.
    cache_dir: Path = Path("var/recordings-cache")
    cache_max_mb: Annotated[int, Field(ge=1)] = 2048
    # How often the spool is swept: unflagged recordings go within a minute of their due time.
    sweep_seconds: Annotated[float, Field(gt=0, le=60)] = 15.0
    # Wait this long after a call ended before moving its file: MixMonitor closes it late.
    settle_seconds: Annotated[float, Field(ge=0, le=60)] = 2.0
    # Dialplan context of the civil-language warning (deploy/asterisk/extensions.conf).
    warning_context: str = Field(default="hotline-warning", min_length=1, max_length=80)
    # Prompts played on flags: a prompt of the IVR's catalogue (played from
    # <ivr.sounds_dir>/<ivr.language>/<name>, as `hotline prompts build` renders it) or an
    # absolute path without extension.
    # S15, played to an abusive caller on the first abusive flag.
    warning_prompt: SoundName = "civil_language_warning"
    # S16, played before hotline ends the call on the second abusive flag.
    closing_prompt: SoundName = "closing"
    # The company's procedure for extortion (rules 3.1, 3.2; the catalogue's
    # "extortion_notice" is a starting point); none configured: nothing is played.
    extortion_prompt: SoundName | None = None


Language = Literal["zh-CN", "en"]


class IvrSettings(_Section):
    """The IVR: where call flows, the prompt catalogue and the rendered sounds live.

    Relative paths are read from the working directory; the sounds folder is given to
    Asterisk as an absolute path (``STREAM FILE /abs/var/sounds/zh-CN/greeting``), so Asterisk
    must be able to read it (same host, or the same path mounted).
    """

    flows_dir: Path = Path("callflows")
    prompts_file: Path = Path("callflows/prompts.yaml")
    sounds_dir: Path = Path("var/sounds")
    # Recorded prompts a user drops in place of the synthesised ones: <dir>/<lang>/<name>.<ext>.
    overrides_dir: Path = Path("callflows/recorded")
    language: Language = "zh-CN"
    # espeak-ng voices. Debian's espeak-ng 1.51 "cmn" voice reads Hanzi as pinyin spelled in
    # English ("nin two hao three"); its sibling "cmn-latn-pinyin" speaks them in Mandarin.
    voice_zh: str = Field(default="cmn-latn-pinyin", min_length=1)
    voice_en: str = Field(default="en-us", min_length=1)
    # A prompt file quieter than this (dBFS) is refused as silent.
    silence_dbfs: Annotated[float, Field(lt=0)] = -60.0
    music_class: str = Field(default="default", min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    # Seconds Asterisk may take to send the agi_* environment before the IVR drops it.
    env_timeout: PositiveSeconds = 5.0
    # After a -1 result that may mean "file missing" or "caller gone", how long to wait for
    # Asterisk's HANGUP notice (it follows the result by ~40 ms in the captures).
    hangup_grace: PositiveSeconds = 0.3

    def voice(self, language: str) -> str:
        return self.voice_zh if language == "zh-CN" else self.voice_en


class ReportSettings(_Section):
    """Reports kept for download."""

    # The daily complaint and feedback digest is built at this local time on every working
    # day; rule 6.7 wants it sent to the departments before 20:30.
    digest_at: Clock = dt.time(20, 15)

    @field_validator("digest_at", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> dt.time:
        return _parse_clock(value)

    @field_serializer("digest_at")
    def _show_clock(self, value: dt.time) -> str:
        return value.strftime("%H:%M")


class BackupSettings(_Section):
    """Daily backups of the database and the recordings index (rules 9.1-9.3).

    Rule 9.1 wants the copies on a different machine: point ``dir`` at storage that is not
    the database's disk (a mounted share of another host, a second disk).
    """

    # The elected scheduler makes one backup a day at ``at`` (local time) when enabled.
    enabled: bool = True
    dir: Path = Path("var/backups")
    # Backups older than this many days are deleted after the next successful one; with the
    # daily schedule that keeps the last ``keep`` backups. The newest is never deleted.
    keep: Annotated[int, Field(ge=1, le=3650)] = 15
    at: Clock = dt.time(2, 30)
    # Also copy the kept recordings' audio files (not only their index and checksums).
    with_audio: bool = False
    # Where pg_dump, pg_restore and psql are; default: the newest /usr/lib/postgresql/*/bin,
    # then PATH. Their major version must be at least the server's.
    pg_bin_dir: Path | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> dt.time:
        return _parse_clock(value)

    @field_serializer("at")
    def _show_clock(self, value: dt.time) -> str:
        return value.strftime("%H:%M")


class Settings(BaseSettings):
    """Everything hotline can be told; see README's configuration section."""

    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    timezone: str = "Asia/Shanghai"
    # Region used to read national numbers (e.g. 13812345678) before storing them as E.164.
    default_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    var_dir: Path = Path("var")

    database: DatabaseSettings = DatabaseSettings()
    ami: AmiSettings = AmiSettings()
    agi: AgiSettings = AgiSettings()
    web: WebSettings = WebSettings()
    ring: RingSettings = RingSettings()
    agents: AgentSettings = AgentSettings()
    hours: HoursSettings = HoursSettings()
    recordings: RecordingSettings = RecordingSettings()
    ivr: IvrSettings = IvrSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    reports: ReportSettings = ReportSettings()
    backup: BackupSettings = BackupSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def secret_values(self) -> list[str]:
        """Every secret this configuration holds, for log redaction."""
        found = [self.ami.secret.get_secret_value()]
        if self.database.password is not None:
            found.append(self.database.password.get_secret_value())
        url_password = make_url(self.database.url).password
        if url_password:
            found.append(str(url_password))
        if self.web.session_secret is not None:
            found.append(self.web.session_secret.get_secret_value())
        return [s for s in found if s]

    def public_dict(self) -> dict[str, Any]:
        """The configuration as shown by ``hotline config show``: secrets masked."""
        data = self.model_dump(mode="json")
        data["database"]["url"] = self.database.display_url()
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _config_file.get() or os.environ.get("HOTLINE_CONFIG", DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_path))


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        given = err.get("input")
        shown = "" if isinstance(given, dict) or err["type"] == "missing" else f" (got {given!r})"
        if "secret" in key or "password" in key:
            shown = ""
        lines.append(f"  {key}: {msg}{shown}")
    return f"invalid configuration in {origin}:\n" + "\n".join(lines)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build the settings or raise :class:`ConfigError` naming every bad key."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
    path = Path(config_file or os.environ.get("HOTLINE_CONFIG", DEFAULT_CONFIG_FILE))
    origin = f"{path} / HOTLINE_* environment" if path.is_file() else "HOTLINE_* environment"
    # The file is handed to the settings source through a context variable, not the process
    # environment, so loading one configuration never changes what the next load reads.
    token = _config_file.set(str(path))
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from None
    finally:
        _config_file.reset(token)
