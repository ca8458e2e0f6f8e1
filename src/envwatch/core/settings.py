"""Settings: every limit and default of the platform, overridable by ``ENVWATCH_*`` variables.

DESIGN convention 2: limits are explicit. Each field below is one limit or default with a safe value;
a province or an operator changes them through the environment (or a ``.env`` file) without code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Device uploads an upstream platform would have received from the device itself (hj212/data/cn.json:
# direction device_to_host or both, kind upload/heartbeat): data, equipment status, site information, the
# 2025 heartbeat. Not the replies to this platform's own commands, time or key requests (1013, 1014).
UPSTREAM_CNS = (
    "2011", "2013", "2021", "2031", "2041", "2051", "2052", "2061", "2062", "2071", "2072", "2081", "2111",
    "3020", "9015",
)  # fmt: skip


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
    command_claim_lease_s: float = Field(
        default=900.0,
        gt=0,
        description="with several gateways on one database: how long a gateway's claim to send a command "
        "holds before another gateway holding the device may take it over (a gateway that stopped "
        "mid-command would otherwise keep it unsent and unexpired) [P]",
    )

    # --- writer (group commit) -------------------------------------------------------------------
    device_seen_write_s: float = Field(
        default=5.0,
        ge=0,
        description="store a device's last_seen at most this often (it may lag by this much; 0 = every packet)",
    )
    writer_batch_max: int = Field(default=2000, ge=1, description="packets per transaction at most")
    writer_commit_gap_s: float = Field(
        default=0.005,
        ge=0,
        le=1.0,
        description="a writer transaction begins at least this long after the one before: fewer, larger "
        "transactions under load, at the cost of up to this much ack latency (an idle writer starts at once)",
    )
    sqlite_writer_cache_mib: int = Field(
        default=64,
        ge=2,
        le=65536,
        description="SQLite page cache of the gateway's writer process, MiB (SQLite's default is 2: too small "
        "for the pages one transaction touches with a thousand devices)",
    )
    writer_queue_max: int = Field(
        default=20000, ge=10, description="packets waiting for the writer before every connection is paused"
    )

    # --- scale-out ingest through NATS JetStream (docs/operations/scale-out.md) -------------------
    queue_url: str | None = Field(
        default=None,
        description="nats://host:4222: gateways publish to JetStream instead of writing (envwatch worker stores)",
    )
    queue_stream: str = Field(default="ENVWATCH_INGEST", description="JetStream stream of received frames")
    queue_subject: str = Field(default="envwatch.ingest", description="subject the gateways publish to")
    queue_replicas: int = Field(default=1, ge=1, le=5, description="stream replicas (3 on a NATS cluster)")
    queue_max_age_s: float = Field(
        default=7 * 86400.0, gt=0, description="frames older than this leave the stream, stored or not"
    )
    queue_max_bytes: int = Field(
        default=10 * 1024**3, ge=1024**2, description="stream size limit; past it JetStream refuses publishes"
    )
    queue_duplicate_window_s: float = Field(
        default=120.0, gt=0, description="JetStream drops a publish whose message id it saw this recently"
    )
    queue_publish_timeout_s: float = Field(default=2.0, gt=0, description="wait this long for a PubAck")
    queue_publish_give_up_s: float = Field(
        default=60.0,
        gt=0,
        description="retry a publish this long, then leave the frame unacknowledged (< the duplicate window)",
    )
    queue_inflight_max: int = Field(default=2000, ge=1, description="publishes awaiting their PubAck at once")
    queue_consumer: str = Field(default="envwatch-writers", description="durable consumer of the workers")
    queue_fetch_batch: int = Field(default=500, ge=1, description="messages a worker stores per transaction")
    queue_depth_every_s: float = Field(
        default=5.0,
        gt=0,
        description="how often a worker reads its consumer's depth from JetStream (/metrics)",
    )
    queue_ack_wait_s: float = Field(
        default=30.0, gt=0, description="a message not acknowledged this long is delivered again"
    )
    queue_applied_keep_s: float = Field(
        default=86400.0, gt=0, description="how long a worker remembers the stream sequences it stored"
    )

    max_attachment_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="largest attachment (附件) accepted, in bytes"
    )

    # --- data validity and aggregation (monitoring.validity, monitoring.aggregation) -----------------
    # Each default names its source; [P] marks a platform proposal, not a regulation (reference §8).
    min_valid_minutes_per_hour: int = Field(
        default=45,
        ge=1,
        le=60,
        description="gas: valid minutes needed for a valid hourly mean 有效小时均值 (HJ 75-2017 §3, VAL-01)",
    )
    min_valid_minutes_per_hour_water: int = Field(
        default=45,
        ge=1,
        le=60,
        description="water: valid minutes needed when an hour is built from minute data (HJ 356-2019 "
        "normally uses device-reported hours; the gas threshold is borrowed [P])",
    )
    min_valid_hours_per_day_gas: int = Field(
        default=20,
        ge=1,
        le=24,
        description="gas: valid hours needed for a valid daily mean (not in HJ 75-2017; GB 3095 habit [P], VAL-02)",
    )
    min_valid_hours_per_day_water: int = Field(
        default=20,
        ge=1,
        le=24,
        description="water: valid hours needed for a valid daily mean (not in HJ 356-2019 [P], VAL-06)",
    )
    invalid_flags_gas: list[str] = Field(
        default_factory=lambda: ["C", "M", "D", "F", "B", "P", "T", "S"],
        description="gas data flags that make a value invalid (HJ 75-2017 §12.1, VAL-03; HJ 212-2017 Table 8; "
        "P = 2005 power failure; T over range and S set value need review before use, so invalid by default)",
    )
    invalid_flags_water: list[str] = Field(
        default_factory=lambda: ["C", "M", "D", "F", "B", "P", "T", "S"],
        description="water data flags that make a value invalid (HJ 356-2019 §5-6, VAL-04; T needs review)",
    )
    unknown_flags_invalid: bool = Field(
        default=True,
        description="a flag that is not an HJ 212 data flag at all (vendor codes) makes a value invalid [P]",
    )
    median_factors_water: list[str] = Field(
        default_factory=lambda: ["w01001"],
        description="water factors whose daily value is the median, never a mean (pH; HJ 356-2019 §7 [S], VAL-06)",
    )
    aggregate_tolerance_pct: Decimal = Field(
        default=Decimal("1"),
        ge=0,
        description="device-reported hour/day value vs the one computed from finer data: accepted "
        "difference, % of the computed value [P]",
    )
    o2_conversion_cap: Decimal = Field(
        default=Decimal("19"),
        gt=0,
        lt=21,
        description="O2 % at or above which no 折算浓度 is computed; an anomaly instead (CONV-03 [P]; "
        "cf. 40 CFR 75 App F §3.3.4 diluent cap)",
    )

    # --- marks (标记, monitoring.marks) -------------------------------------------------------------
    mark_deadline_rule: str = Field(
        default="days_after_end",
        pattern="^(days_after_end|day_of_next_month)$",
        description="when a mark is late (accepted, recorded as late): days_after_end = more than "
        "mark_deadline_days after the end of the marked range (legacy national 10-day rule, RENREN-ETR); "
        "day_of_next_month = after day mark_deadline_day_of_month (China time) of the month after the "
        "range ends (legacy 'by the 10th of next month' rule for 停运/停产 proof)",
    )
    mark_deadline_days: int = Field(
        default=10, ge=0, description="days_after_end: days allowed after the end"
    )
    mark_deadline_day_of_month: int = Field(
        default=10, ge=1, le=28, description="day_of_next_month: last day (inclusive) of the next month"
    )
    mark_max_span_days: int = Field(default=31, ge=1, description="longest range one mark may cover")
    mark_max_future_days: int = Field(
        default=7,
        ge=0,
        description="how far ahead a mark may end (planned maintenance or shutdown reported in advance, "
        "提前报备); 0 = marks must end by now",
    )

    # --- effective transmission rates (有效传输率, monitoring.rates) ---------------------------------
    rates_factors_gas: list[str] = Field(
        default_factory=lambda: ["a21026", "a21002", "a34013"],
        description="factors a gas device is rated on when none are registered for it: SO2, NOx, particulate "
        "(flue-gas parameters O2, flow, temperature, moisture, pressure are not rated; monitoring-rules §4)",
    )
    rates_factors_water: list[str] = Field(
        default_factory=lambda: ["w01018", "w21003", "w21011", "w21001"],
        description="factors a water device is rated on when none are registered: COD, NH3-N, TP, TN",
    )
    rates_water_qc_exempt_factors: list[str] = Field(
        default_factory=lambda: ["w01018", "w21003", "w21011", "w21001"],
        description="water factors whose daily automatic standard-sample check hour is not owed (ETR-02)",
    )
    rates_water_qc_exempt_hours_per_day: int = Field(
        default=1, ge=0, le=24, description="hours per day not owed for that check (national algorithm: 1)"
    )
    rates_on_time_grace_s: float = Field(
        default=3600.0,
        ge=0,
        description="an hour's data counts in the real-time rate (即时) when it arrives within this long after "
        "the hour ended and is not back-filled; later data counts only in the completed rate (补全)",
    )
    rates_refresh_overlap_s: float = Field(
        default=300.0,
        ge=0,
        description="the rate counts re-read data received this long before their last refresh (commit delay)",
    )
    rates_refresh_every_s: float = Field(
        default=60.0, gt=0, description="how often a running platform updates the rate counts with new data"
    )
    rates_shutdown_needs_approval: bool = Field(
        default=True,
        description="a shutdown (停运) mark exempts hours from the expected count only once approved",
    )
    late_marks_decide: bool = Field(
        default=False,
        description="whether marks entered after the marking deadline change validity and rates (legacy "
        "national rule: no, the automatic flags stand; late marks are still recorded and shown)",
    )
    rates_quarter_min_pct: Decimal = Field(
        default=Decimal(90),
        description="SX-30.7: a quarterly effective transmission rate below this is flagged",
    )
    rates_month_min_pct: Decimal = Field(
        default=Decimal(90), description="SX-30.6: a monthly rate below this, together with the faults below"
    )
    rates_month_min_faults: int = Field(
        default=3, ge=1, description="SX-30.6: this many fault marks in the month, with a low monthly rate"
    )
    rates_operator_min_pct: Decimal = Field(
        default=Decimal(95),
        description="CS-4.3.2.1: a certified operator keeps the effective rate at least this",
    )

    # --- alarms (报警, alarms.*): offline watch, lifecycle deadlines, notifications ----------------------
    offline_grace_s: float = Field(
        default=600.0,
        gt=0,
        description="a device with no packet for this long is silent (掉线) and gets an offline alarm "
        "(issue 5 default: 10 minutes; the national platform marks outages after 15 min, monitoring-rules §6)",
    )
    offline_check_every_s: float = Field(
        default=60.0, gt=0, description="how often the offline watcher looks for devices past their deadline"
    )
    alarm_ack_due_s: float = Field(
        default=3600.0,
        gt=0,
        description="an alarm not acknowledged this long after it opened escalates (CS-4.3.3: respond within "
        "1 h)",
    )
    alarm_escalate_every_s: float = Field(
        default=60.0, gt=0, description="how often overdue alarms and orders are looked for"
    )
    detectors: dict[str, Any] = Field(
        default_factory=dict,
        description="thresholds and switches of the anomaly and exceedance detectors, as JSON, e.g. "
        '{"constant_hours_gas": 6, "enabled": ["exceedance", "constant"]}; every field, its default and '
        "its source are in envwatch.alarms.detectors.thresholds.DetectorThresholds (unknown names are refused)",
    )
    detect_every_s: float = Field(
        default=900.0,
        gt=0,
        description="how often `serve` runs the detectors over today's hours so far (and yesterday's once "
        "it is over); a detection an open alarm already holds writes nothing",
    )
    hour_data_due_s: float = Field(
        default=3600.0,
        ge=0,
        description="an hour's record (CN 2061) still missing this long after the hour ended raises a "
        "missing-hour alarm",
    )

    # --- notifications (通知, alarms.dispatch): the outbox's channels and retries ---------------------
    smtp_host: str = Field(default="", description="SMTP server for e-mail notifications; empty = no e-mail")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = Field(default="", description="From: address of notification e-mails")
    smtp_username: str = Field(default="", description="SMTP login; empty = no login")
    smtp_password: str = Field(default="", description="SMTP password (a secret: never logged)")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS")
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="a webhook POST not answered by then retries"
    )
    sms_url_template: str = Field(
        default="",
        description="the SMS gateway's URL with {phone} {text} {subject} {id} placeholders (may hold its key: "
        "a secret, never logged); empty = no SMS",
    )
    sms_body_template: str = Field(
        default="",
        description="request body template (JSON or form) with the same placeholders; empty = none",
    )
    sms_method: str = Field(
        default="GET", pattern="^(GET|POST)$", description="GET or POST to the SMS gateway"
    )
    sms_timeout_s: float = Field(default=10.0, gt=0)
    notify_base_backoff_s: float = Field(
        default=30.0, gt=0, description="first retry after this long; each further one waits twice as long"
    )
    notify_max_backoff_s: float = Field(default=3600.0, gt=0, description="the longest wait between retries")
    notify_max_attempts: int = Field(
        default=8, ge=1, description="a notification failing this many times is recorded as failed"
    )
    notify_every_s: float = Field(default=10.0, gt=0, description="pause between dispatcher rounds")
    notify_batch: int = Field(default=100, ge=1, description="notifications claimed per round")
    notify_claim_s: float = Field(
        default=300.0,
        gt=0,
        description="a claimed notification is another dispatcher's again after this long",
    )

    # --- operations: fault clocks (SX-18.3, operations.fault_clocks) -------------------------------------
    fault_backup_required_after_h: float = Field(
        default=24.0,
        gt=0,
        description="SX-18.3: a fault longer than this needs a backup device or manual monitoring",
    )
    fault_restore_within_workdays: int = Field(
        default=5,
        ge=1,
        description="SX-18.3: a fault is restored by 24:00 China time of this working day after it began",
    )
    fault_backup_check_after_days: float = Field(
        default=7.0, gt=0, description="SX-18.3: a backup used longer than this needs a check / comparison"
    )
    fault_backup_check_within_days: float = Field(
        default=10.0,
        gt=0,
        description="SX-18.3: that check is due this many days after switching to the backup",
    )
    fault_backup_max_days: float = Field(
        default=30.0, gt=0, description="SX-18.3: a backup is used at most this long"
    )

    # --- operations (运维, operations.*): service tickets (CS-4.3.3) ------------------------------------
    ticket_respond_within_h: float = Field(
        default=1.0, gt=0, description="CS-4.3.3: a service request is answered within this many hours (7×24)"
    )
    ticket_on_site_urban_h: float = Field(
        default=4.0,
        gt=0,
        description="CS-4.3.3: on site within this many hours of the request, urban outlets",
    )
    ticket_on_site_suburban_h: float = Field(default=8.0, gt=0, description="CS-4.3.3: the same, suburban")
    ticket_on_site_remote_h: float = Field(default=8.0, gt=0, description="CS-4.3.3: the same, remote")
    ticket_satisfied_min_score: int = Field(
        default=4, ge=1, le=5, description="a survey score (1–5) at least this counts as satisfied [P]"
    )
    ticket_satisfaction_min_percent: Decimal = Field(
        default=Decimal(85),
        ge=0,
        le=100,
        description="CS-4.3.3: an operator's satisfaction rate at least this",
    )

    # --- operations (运维): field records, retention, periodic duties ------------------------------------
    om_sign_in_max_distance_m: int = Field(
        default=500,
        ge=1,
        description="a field record's GPS sign-in farther than this from the outlet is marked off site [P]",
    )
    om_qa_limits: str = Field(
        default="",
        description="JSON overriding the calibration drift and comparison criteria "
        "(operations/data/qa_limits.json; HJ 75-2017 §11, HJ 355-2019 Table 1) [S]",
    )
    om_record_retention_years: int = Field(
        default=3, ge=1, description="SX-18.2: O&M records are kept at least this many years"
    )
    om_comparison_retention_years: int = Field(
        default=5,
        ge=1,
        description="SX-18.6: comparison-monitoring records are kept at least this many years",
    )
    om_inspection_every_days: int = Field(
        default=7, ge=1, description="SX-20.3: a device is inspected at least every this many days"
    )
    om_certificate_warn_days: int = Field(
        default=30,
        ge=0,
        description="CS-4.5: a staff certificate expiring within this many days is shown [P]",
    )
    om_restart_check_within_days: int = Field(
        default=14, ge=1, description="SX-18.4: after a production stop, the device is checked within this"
    )
    om_self_inspection_due_days: int = Field(
        default=15,
        ge=0,
        description="SX-18.7: the quarterly self-inspection report is due this many days after the quarter [P]",
    )

    # --- sampling: sample identification labels and custody (识别标识系统, WZ-A2, sampling.*) ------------
    sampling_max_distance_m: int = Field(
        default=300,
        ge=1,
        description="WZ-A2-6: an on-site entry farther than this from the sampling point is refused [P]",
    )
    sampling_offline_max_age_h: int = Field(
        default=72,
        ge=1,
        description="an entry captured offline is accepted on sync only this many hours after its device "
        "time (and is flagged for review) [P]",
    )
    sampling_clock_skew_s: int = Field(
        default=300,
        ge=0,
        description="an online entry whose device clock differs from the server's by more than this is "
        "flagged for review [P]",
    )
    sampling_entry_lag_min: int = Field(
        default=60,
        ge=0,
        description="a sampling time entered by hand may lie at most this long before its on-site entry [P]",
    )
    sampling_code_random_chars: int = Field(
        default=6,
        ge=4,
        le=12,
        description="length of the unguessable part of a sample code (Crockford base32, 5 bits a character)",
    )
    sampling_label_font: Path | None = Field(
        default=None,
        description="TrueType/TTC font with Chinese glyphs embedded in label PDFs; unset = WenQuanYi Zen Hei "
        "from Debian's fonts-wqy-zenhei (/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc)",
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        pattern=r"^https?://[^\s\"'?#]+$",
        description="the platform's address as people outside reach it; label QR codes carry "
        "<public_base_url>/v/<code> (the verification page)",
    )

    # --- evidence: blob store, tamper-evident log, video archive (证据存证, WZ-A1, evidence.*) ----------
    blob_backend: Literal["local", "s3"] = Field(
        default="local",
        description="where stored files live: write-once files under <data_dir>/blobs, or an S3-compatible "
        "bucket with Object Lock in compliance mode (needs the 's3' extra: boto3)",
    )
    blob_s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL (MinIO, Ceph RGW); unset = AWS"
    )
    blob_s3_bucket: str = Field(
        default="envwatch-evidence", description="bucket; created with Object Lock if absent"
    )
    blob_s3_region: str = Field(default="us-east-1", description="S3 region name")
    blob_s3_access_key: str | None = Field(
        default=None, description="S3 access key (unset: boto3's own lookup)"
    )
    blob_s3_secret_key: str | None = Field(default=None, description="S3 secret key")
    video_retention_years: int = Field(
        default=10, ge=1, description="WZ-A1-13: videos (and reprint videos) are kept at least this long"
    )
    attachment_retention_years: int = Field(
        default=10, ge=1, description="photos and other attachments are kept at least this long [P]"
    )
    video_max_bytes: int = Field(
        default=20 * 1024**3, ge=1024, description="largest video accepted by the resumable upload, in bytes"
    )
    video_upload_expiry_h: int = Field(
        default=168, ge=1, description="an unfinished upload may be resumed for this many hours [P]"
    )
    video_archive_deadline_h: int = Field(
        default=72,
        ge=1,
        description="WZ-A1-13: a video is archived within this many hours of its recording end",
    )
    video_whole_job_max_min: int = Field(
        default=15,
        ge=1,
        description="WZ-A1-5: a job shorter than this is filmed whole; a longer one has start and end clips",
    )
    video_clip_tolerance_min: int = Field(
        default=5,
        ge=0,
        description="WZ-A1-5: how far a start or end clip may lie from the job's start or end [P]",
    )
    evidence_origin: str = Field(
        default="envwatch.local/evidence",
        pattern=r"^[^\s+]+$",  # C2SP signed notes: a key name has no spaces and no '+'
        description="the log's name on its checkpoints (C2SP tlog-checkpoint origin line); set it to your "
        "platform's own domain before the first checkpoint",
    )
    evidence_signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM, PKCS#8) that signs checkpoints; unset = "
        "<data_dir>/keys/evidence-ed25519.pem, created on first use",
    )
    evidence_integrate_every_s: float = Field(
        default=5.0, gt=0, description="how often submitted evidence entries get their Merkle leaves"
    )
    evidence_checkpoint_every_s: float = Field(
        default=300.0, gt=0, description="how often a signed checkpoint is made when the log grew [P]"
    )
    evidence_tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 time-stamping authority (可信时间戳) each checkpoint is sent to; unset = none",
    )
    evidence_tsa_timeout_s: float = Field(default=10.0, gt=0, description="how long to wait for the TSA")
    evidence_tsa_ca_file: Path | None = Field(
        default=None,
        description="PEM with the TSA's root and intermediate CA certificates; every token is verified against "
        "it before it is stored and by `envwatch evidence verify` (required when evidence_tsa_url is set)",
    )
    evidence_tsa_policy_oid: str | None = Field(
        default=None,
        pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$",
        description="the TSA policy (OID, e.g. the one in your TSA contract) every token must carry; unset = any",
    )
    evidence_tsa_per_round: int = Field(
        default=5, ge=1, description="checkpoints without a token stamped per retry round, newest first"
    )
    storage_warn_percent: float = Field(
        default=80.0, gt=0, le=100, description="WZ-A1-13: storage use above this is a warning [P]"
    )
    storage_critical_percent: float = Field(
        default=90.0, gt=0, le=100, description="WZ-A1-13: storage use above this is critical [P]"
    )
    storage_check_every_s: float = Field(
        default=3600.0, gt=0, description="how often the storage capacity is checked and recorded"
    )
    self_inspection_share: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="WZ-A1-14: share of an agency's video records of a month drawn for self-inspection [P]",
    )
    self_inspection_min: int = Field(
        default=3, ge=1, description="WZ-A1-14: at least this many records are drawn (or all, if fewer) [P]"
    )

    # --- accounts, sessions and tokens (web.accounts) -----------------------------------------------
    session_cookie_name: str = Field(
        default="envwatch_session", pattern="^[A-Za-z0-9_-]+$", description="name of the session cookie"
    )
    cookie_secure: bool = Field(
        default=True,
        description="send the session cookie over HTTPS only; set false only behind plain HTTP on a trusted "
        "network (browsers treat http://localhost as secure, so local use works either way)",
    )
    session_idle_timeout_s: float = Field(
        default=1800.0, gt=0, description="a session unused this long ends (checked to within a minute)"
    )
    session_absolute_timeout_s: float = Field(
        default=12 * 3600.0, gt=0, description="a session ends this long after login whatever its use"
    )
    failures_before_lockout: int = Field(
        default=5, ge=1, description="failed logins for one username within lockout_window_s that lock it"
    )
    lockout_window_s: float = Field(default=900.0, gt=0, description="window counting failed logins")
    lockout_s: float = Field(
        default=900.0, gt=0, description="how long a locked username is refused, from its last failure"
    )
    password_min_length: int = Field(default=10, ge=8, description="shortest password accepted")

    # --- HTTP ------------------------------------------------------------------------------------
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    admin_token: str | None = Field(
        default=None,
        description="API token of the admin; unset means one is generated in <data_dir>/admin_token",
    )

    # --- operations: logs and metrics (docs/operations/monitoring.md) -----------------------------
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one readable line per event; json: one JSON object per line (timestamp, level, "
        "logger, message and the event's extra fields) for a log collector",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="`envwatch gateway` (no web app) serves Prometheus /metrics on this port; 0 = off. "
        "Processes with the web app serve /metrics on the HTTP port",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address the gateway's metrics port listens on (keep it private)"
    )
    ready_timeout_s: float = Field(
        default=5.0, gt=0, description="/readyz answers 503 when the database has not answered within this"
    )

    dashboard_warm_every_s: float = Field(
        default=60.0,
        gt=0,
        description="how often `serve` judges today's new hours of the whole fleet for the regional "
        "overview (its first request after a start is then as quick as the others)",
    )

    # --- pages: the regional map (web.pages.region, docs/web.md "Map") ----------------------------------
    map_tiles_url: str = Field(
        default="",
        pattern=r"^(|https?://[^\s\"']+)$",
        description="basemap tile URL template, e.g. an approved provider's https://…/{z}/{x}/{y}.png; empty "
        "= no basemap (outlets on a plain coordinate grid, works without the internet). Its origin is added "
        "to the pages' Content-Security-Policy img-src",
    )
    map_tiles_attribution: str = Field(
        default="", description="attribution (and 审图号) shown under the map when tiles are used"
    )
    map_boundaries_file: Path | None = Field(
        default=None,
        description="GeoJSON of region boundaries (the deployment's own, approved map data) drawn under the "
        "outlets; unset = none",
    )

    # --- compliance engine (合规判定, issue 9, compliance.*, docs/compliance.md) ---------------------------
    compliance_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="JSON overriding rule parameters, by rule ID then parameter name, e.g. "
        '{"SX-20.3-7D": {"days": 10}}; `envwatch compliance rules` lists every rule and parameter',
    )
    compliance_rules_off: list[str] = Field(
        default_factory=list,
        description='JSON list of rule IDs switched off, e.g. ["SX-29-SIM"]; their open findings stay as they are',
    )
    compliance_daily_at_hour: int = Field(
        default=2,
        ge=0,
        le=23,
        description="`serve` runs every rule once a day, at the first loop round after this hour (China time)",
    )
    compliance_loop_every_s: float = Field(
        default=600.0, gt=0, description="how often `serve` looks whether the daily compliance run is due"
    )
    # operator assessment (季度考核, SX-26/27, SX-32; compliance.assessment)
    assessment_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "effective_rate": 40.0,
            "response": 20.0,
            "inspection": 15.0,
            "findings": 15.0,
            "satisfaction": 10.0,
        },
        description="JSON: weight of each component of the quarterly operator score (they need not sum to "
        "100; the score is the weighted mean of the component sub-scores, 0–100) [P]",
    )
    assessment_findings_per_point: float = Field(
        default=2.0,
        gt=0,
        description="the findings sub-score loses this many points per violation found in the quarter, per "
        "device run [P]",
    )
    assessment_pass_score: Decimal = Field(
        default=Decimal(60),
        ge=0,
        le=100,
        description="SX-32: a quarterly score below this fails the assessment and records a warning [P]",
    )
    assessment_blacklist_after_last: int = Field(
        default=2,
        ge=1,
        description="SX-26/27: last place this many quarters in a row blacklists the operator [P]",
    )
    # supervision (监督, SX-22.3 / SX-23; compliance.supervision)
    spot_test_share_percent: Decimal = Field(
        default=Decimal(10),
        gt=0,
        le=100,
        description="SX-23: the yearly manual spot test covers at least this share of monitoring points",
    )
    spot_test_max_error_pct: Decimal = Field(
        default=Decimal(20),
        gt=0,
        description="SX-23: the relative error (% of the manual value) a spot-tested automatic value may have [P]",
    )
    # periodic reports (定期报告; reports.periodic)
    report_schedule: list[str] = Field(
        default_factory=lambda: ["day", "month", "quarter", "year"],
        description="JSON list of the periodic reports `serve` makes for the whole platform once their "
        "period is over (day, month, quarter, year); [] = on demand only",
    )
    report_schedule_regions: int = Field(
        default=4,
        description="the scheduled reports are also made per region at this code length (2 province, 4 city, "
        "6 county; 0 = only the platform-wide one)",
    )

    # --- PostgreSQL monthly partitions (分区, core.partitions; docs/operations/postgresql.md) -----------
    partitions_months_ahead: int = Field(
        default=3, ge=1, le=24, description="PostgreSQL: months of partitions kept created ahead of now"
    )
    partitions_every_s: float = Field(
        default=21600.0, gt=0, description="PostgreSQL: how often serve/gateway/web create the months ahead"
    )
    retention_measurements_months: int = Field(
        default=60,
        ge=60,
        description="whole months of measurements kept attached before `partitions retire` may detach "
        "them; the texts set no period for monitoring data, 60 is the longest they set for it "
        "(SX-18.6: comparison data ≥ 5 years), and the floor",
    )
    retention_raw_packets_months: int = Field(
        default=60,
        ge=60,
        description="whole months of raw packets (evidence of the measurements) kept attached before "
        "`partitions retire` may detach them; never less than the measurements' 60",
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

    # upstream forwarding 市 → 省 → 部 (docs/operations/upstream.md)
    upstream_cns: list[str] = Field(
        default_factory=lambda: list(UPSTREAM_CNS),
        description="CNs of accepted packets forwarded to upstream platforms: uploads (data 2xxx, site info "
        "3020, heartbeat 9015), never replies to this platform's own commands (9011/9012) or key requests",
    )
    upstream_verdicts: list[str] = Field(
        default_factory=lambda: ["ok", "conflict"],
        description="raw-log verdicts forwarded: ok, and conflict (a re-send with other values, as the "
        "upstream would have seen it from the device); never duplicate or any refusal [P]",
    )
    upstream_window: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="packets sent to an upstream and not yet acknowledged (1: "
        "stop-and-wait as in HJ 212 C.47-C.50) [P]",
    )
    upstream_ack_timeout_s: float = Field(
        default=10.0, gt=0, description="HJ 212 Table 1 OverTime for a 9014"
    )
    upstream_retries: int = Field(
        default=3,
        ge=0,
        description="resends of an unacknowledged packet before reconnecting (Table 1 ReCount)",
    )
    upstream_backoff_s: float = Field(
        default=1.0, gt=0, description="first reconnect delay, doubled per failure"
    )
    upstream_backoff_max_s: float = Field(default=300.0, gt=0, description="longest reconnect delay")
    upstream_max_rate: float = Field(
        default=200.0,
        gt=0,
        description="packets per second at most to one upstream: back-fill after an "
        "outage catches up at this pace so a province platform is not flooded [P]",
    )
    upstream_batch: int = Field(default=500, ge=1, description="raw packets read from the log at a time")
    upstream_poll_s: float = Field(
        default=1.0, gt=0, description="how often a caught-up forwarder looks again"
    )
    upstream_gap_wait_s: float = Field(
        default=15.0,
        gt=0,
        description="a raw packet id missing below newer ones is waited for this long "
        "(a writer transaction still open) before it counts as rolled back and is passed",
    )
    upstream_connect_timeout_s: float = Field(default=10.0, gt=0, description="TCP connect timeout")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'envwatch.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
