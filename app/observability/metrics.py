"""Every Prometheus metric Nox exports, in one place.

Labels are bounded: route templates, methods, status codes, languages, outcomes, provider
names. Never user ids, paths or anything a client chooses freely.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Gauge(
    "nox_build_info",
    "Version and environment of this process",
    ["version", "environment"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "nox_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=REGISTRY
)
HTTP_DURATION = Histogram(
    "nox_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
HTTP_IN_PROGRESS = Gauge(
    "nox_http_requests_in_progress", "HTTP requests being handled", registry=REGISTRY
)
RUNS = Counter("nox_runs", "Sandbox runs by outcome", ["language", "status"], registry=REGISTRY)
RUN_DURATION = Histogram(
    "nox_run_duration_seconds",
    "Wall time of sandbox runs",
    ["language"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RUNS_IN_PROGRESS = Gauge("nox_runs_in_progress", "Sandbox runs executing now", registry=REGISTRY)
FILE_OPERATIONS = Counter(
    "nox_file_operations",
    "Workspace file operations",
    ["operation", "outcome"],
    registry=REGISTRY,
)
LOGINS = Counter("nox_logins", "Login attempts", ["provider", "outcome"], registry=REGISTRY)
RATE_LIMITED = Counter(
    "nox_rate_limited", "Requests refused by a quota or rate limit", ["limit"], registry=REGISTRY
)
COMPONENT_UP = Gauge(
    "nox_component_up",
    "1 when a dependency answered its last readiness check",
    ["component"],
    registry=REGISTRY,
)
DISK_FREE = Gauge(
    "nox_disk_free_bytes", "Free bytes on a volume Nox writes to", ["volume"], registry=REGISTRY
)
DISK_SIZE = Gauge(
    "nox_disk_size_bytes", "Size of a volume Nox writes to", ["volume"], registry=REGISTRY
)
BACKUP_LAST_SUCCESS = Gauge(
    "nox_backup_last_success_timestamp_seconds",
    "Unix time of the newest successful backup recorded in the database",
    registry=REGISTRY,
)
PITR_BACKUP_LAST_SUCCESS = Gauge(
    "nox_pitr_backup_last_success_timestamp_seconds",
    "Unix time of the newest pgBackRest backup of each type the PITR scheduler recorded",
    ["type"],
    registry=REGISTRY,
)
WAL_ARCHIVED = Gauge(
    "nox_pitr_wal_archived_timestamp_seconds",
    "Unix time PostgreSQL last archived a WAL segment (pg_stat_archiver; PITR)",
    registry=REGISTRY,
)
WAL_ARCHIVE_FAILED = Gauge(
    "nox_pitr_wal_archive_failed_timestamp_seconds",
    "Unix time archive_command last failed (pg_stat_archiver); 0 when it never did",
    registry=REGISTRY,
)

SANDBOX_SLOTS = Gauge(
    "nox_sandbox_slots", "Sandboxes this executor runs at once at most", registry=REGISTRY
)
SANDBOX_SLOTS_IN_USE = Gauge(
    "nox_sandbox_slots_in_use", "Sandboxes running now (admitted runs)", registry=REGISTRY
)
SANDBOX_QUEUE_DEPTH = Gauge(
    "nox_sandbox_queue_depth", "Runs waiting for a sandbox slot", registry=REGISTRY
)
SANDBOX_QUEUE_WAIT = Histogram(
    "nox_sandbox_queue_wait_seconds",
    "Time a run waited for a sandbox slot (not charged to its wall clock)",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
SANDBOX_REJECTIONS = Counter(
    "nox_sandbox_rejections",
    "Runs answered 503 because no sandbox slot could be had",
    ["reason"],  # queue_full, wait_timeout
    registry=REGISTRY,
)

COMPONENTS = ("database", "cache", "executor")
VOLUMES = ("data", "workspaces")
