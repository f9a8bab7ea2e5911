"""syslog-ng (Debian's package) as a peer: file source → json-parser → filter → http().

The configuration is written per run into the run folder and syslog-ng is started in
the foreground with its own persist file, pid file and control socket, so it never
touches the system's configuration or paths under /var.

Invariants:

- Lines are read without syslog parsing (``flags(no-parse)``): the whole line is
  ``$MESSAGE``, which ``json-parser()`` turns into name-value pairs.
- The body template renders PostHog's event JSON with typed values
  (``double(${amount})`` is a JSON number) and the destination batches 1000 events into
  ``{"api_key": …, "batch": [ … ]}`` with body-prefix, delimiter and body-suffix.
- ``flow-control``: a slow sink slows the reader instead of dropping messages. The
  source window is sized so a full batch fits in flight for every file
  (``log-iw-size`` is divided between ``max-files()`` readers).
- The ``prefilter`` variant puts a substring match on the raw line in front of the
  JSON parser, its strongest correct form: only lines containing the literal are
  parsed, and the JSON filter still rejects decoys.
- syslog-ng cannot derive a uuid from the line's position, so it sends ``$(uuid)``
  (random): PostHog would not collapse a re-sent copy. The sink counts duplicates by
  the order id as well, which catches them anyway.
- syslog-ng's file sources cannot read gzip: for W6 it reads the plain copies the
  harness made of the rotated files (``Job.plain_dir``), decompressed once before any
  run, all of them from their start like any file it has no persist state for.
"""

from __future__ import annotations

from bench.install import syslog_ng_version
from bench.tools import Job, Launch, clean_env
from bench.workloads import Workload

__all__ = ["SyslogNgTool", "render_config"]

# Lines in flight across all files (never below syslog-ng's minimum of 100 per reader).
# Measured: with 20,000, W2 (a rule matching ~1.9% of lines) took 26 s of wall time for
# 14 s of CPU, the reader waiting on batch-timeout again and again, and W1 took 15.5 s;
# with 100,000 both are CPU-bound (W2 15 s, W1 12.4 s) for ~13 MiB more RSS.
_WINDOW_LINES = 100_000
_MIN_WINDOW_PER_FILE = 100
# logbridge's default batch.max_wait_seconds, so both wait as long for a full batch.
_BATCH_TIMEOUT_MS = 500

_FILTERS = {
    "order": 'filter { "${event}" eq "order_processed" };',
    # `>` compares numerically (`gt` would compare strings) in syslog-ng 3.x.
    "slow": 'filter { "${duration_ms}" > "1000" };',
}
_LITERALS = {"order": "order_processed"}

_BODIES = {
    "order": (
        "$(format-json event=pedido_procesado distinct_id=${user_id} "
        "timestamp=${timestamp} uuid=$(uuid) properties.amount=double(${amount}) "
        "properties.currency=${currency} properties.order_id=${order_id} "
        "properties.host=${host})"
    ),
    "slow": (
        "$(format-json event=slow_request distinct_id=${user_id} "
        "timestamp=${timestamp} uuid=$(uuid) "
        "properties.duration_ms=int64(${duration_ms}) properties.path=${path} "
        "properties.status=int64(${status}) properties.request_id=${request_id})"
    ),
}


def _config_version(version: str) -> str:
    # The @version line takes major.minor: 3.38.1 -> 3.38.
    return ".".join(version.split(".")[:2])


def render_config(job: Job, *, version: str, prefilter: bool) -> str:
    """The complete syslog-ng configuration for ``job``."""
    workload = job.workload
    files = max(1, len(job.files), workload.files)
    per_file = max(_MIN_WINDOW_PER_FILE, _WINDOW_LINES // files)
    window = per_file * files
    literal = _LITERALS.get(workload.rule)
    prefilter_stmt = ""
    if prefilter and literal is not None:
        prefilter_stmt = (
            f'filter {{ message("{literal}" type(string) flags(substring)) }};\n    '
        )
    body = _BODIES[workload.rule]
    # W6: the decompressed copies of the rotated files (syslog-ng reads no gzip).
    folder = job.plain_dir or job.log_dir
    return f"""\
@version: {_config_version(version)}
# Written by bench/peers/syslog_ng.py for one benchmark run.
options {{
    stats-freq(0);
    use-dns(no);
    dns-cache(no);
    use-fqdn(no);
    chain-hostnames(no);
    keep-hostname(yes);
    log-msg-size(65536);
}};

source s_app {{
    wildcard-file(
        base-dir("{folder}")
        filename-pattern("{workload.file_pattern}")
        flags(no-parse)
        max-files({files})
        log-iw-size({window})
        log-fetch-limit(1000)
    );
}};

destination d_posthog {{
    http(
        url("{job.sink_url}/batch/")
        method("POST")
        headers("Content-Type: application/json")
        batch-lines(1000)
        batch-timeout({_BATCH_TIMEOUT_MS})
        workers(1)
        log-fifo-size({2 * window})
        body-prefix('{{"api_key":"{job.api_key}","batch":[')
        delimiter(",")
        body-suffix("]}}")
        body('{body}')
    );
}};

log {{
    source(s_app);
    {prefilter_stmt}parser {{ json-parser(); }};
    {_FILTERS[workload.rule]}
    destination(d_posthog);
    flags(flow-control);
}};
"""


class SyslogNgTool:
    """syslog-ng in the foreground, plain or with the substring prefilter."""

    def __init__(
        self, *, prefilter: bool, version: str | None, reason: str = ""
    ) -> None:
        self.prefilter = prefilter
        self.name = "syslog-ng+prefilter" if prefilter else "syslog-ng"
        self._version = version
        self._reason = reason

    def unavailable(self) -> str | None:
        """Why syslog-ng cannot run (not installed), or None."""
        return None if self._version is not None else self._reason or "not installed"

    def skip_reason(self, workload: Workload) -> str | None:
        """The prefilter variant needs a literal; W2's numeric rule has none."""
        if self.prefilter and not workload.has_literal:
            return "no literal to prefilter on"
        return None

    def version(self) -> str:
        """syslog-ng's version, e.g. 3.38.1."""
        return self._version or syslog_ng_version() or "unknown"

    def launch(self, job: Job) -> Launch:
        """Write ``syslog-ng.conf`` into the run folder; run it in the foreground."""
        conf = job.run_dir / "syslog-ng.conf"
        conf.write_text(
            render_config(job, version=self.version(), prefilter=self.prefilter)
        )
        argv = (
            "syslog-ng",
            "--foreground",
            "--stderr",
            "--no-caps",
            f"--cfgfile={conf}",
            f"--persist-file={job.run_dir / 'syslog-ng.persist'}",
            f"--pidfile={job.run_dir / 'syslog-ng.pid'}",
            f"--control={job.run_dir / 'syslog-ng.ctl'}",
        )
        return Launch(
            argv=argv,
            env=clean_env(),
            exits_when_done=False,
            ready_marker=b"syslog-ng starting up",
        )
