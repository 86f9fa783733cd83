"""``vigil server``: the one module that builds and connects the components.

Start-up order: read the config (an invalid one stops here, before anything
opens), bind the listening socket, open the store, start the scrape manager
with the config, then serve HTTP. Reload (SIGHUP or ``POST /-/reload``) reads
the file again and applies it only when it is valid; the old config stays in
force otherwise. Stop (SIGTERM, SIGINT) reverses the order: HTTP, scrapes
(their staleness markers are written), then the store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from prometheus_client import CollectorRegistry, Gauge, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from vigil import __version__
from vigil.alerting import Alerting, AlertingSettings
from vigil.api import ActiveTarget, ApiOptions, DroppedTarget, create_app
from vigil.api.alertmanager import AlertmanagerApi, alertmanager_routes, history_routes
from vigil.api.health import health_routes
from vigil.api.query import QueryOptions
from vigil.api.rules import rules_routes
from vigil.api.status import StatusOptions
from vigil.api.targets import format_duration
from vigil.config import VigilConfig, load_config, parse_config
from vigil.model import VigilError
from vigil.notify.config import load_notify_config
from vigil.promql.engine import Engine
from vigil.rules.file import load_rule_files
from vigil.scrape.manager import ScrapeManager, ScrapeSetupError
from vigil.storage import Appendable, MemoryStorage
from vigil.tsdb.db import TSDB
from vigil.ui import UI, UIOptions, create_ui
from vigil.ui.health_page import HEALTH_RUN_RULE

__all__ = [
    "ReloadError",
    "Server",
    "ServerSettings",
    "UvicornServer",
    "default_config_text",
    "parse_listen",
]

log = logging.getLogger("vigil.server")

DEFAULT_LISTEN = "127.0.0.1:9090"
DEFAULT_DATA_DIR = "data"
DEFAULT_RETENTION_MS = 15 * 24 * 3600 * 1000


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9090`` for IPv6); raises ValueError saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} is not host:port (for example 127.0.0.1:9090)")
    host = host.strip("[]") or "0.0.0.0"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port < 65536:
        raise ValueError(f"{text!r}: port {port} is not a TCP port (0-65535)")
    return host, port


def default_config_text(self_address: str, interval: str = "15s") -> str:
    """The config used without ``--config``: scrape the server's own ``/metrics``."""
    return (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: vigil\n"
        "    static_configs:\n"
        f"      - targets: ['{self_address}']\n"
    )


@dataclass(frozen=True)
class ServerSettings:
    """What the command line decides. ``config_file`` None means: scrape yourself."""

    config_file: Path | None = None
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    listen: str = DEFAULT_LISTEN
    storage: str = "tsdb"  # or "memory": nothing kept on disk
    default_config: Callable[[str], str] = default_config_text
    notifier_config: Path | None = None  # an alertmanager.yml; None: alerts are kept, not sent
    default_rules: bool = False  # also evaluate the packaged default rule pack
    public_read: bool = True  # /metrics and the query API open to anyone, as in Prometheus
    public_ingest: bool = False  # remote write, import and posted alerts open to anyone
    health_admin_token: str | None = None  # sent to targets' POST /health/{check}/run
    dashboards_dir: Path | None = None  # provisioned dashboards (vigil or Grafana JSON)
    ui_base_path: str = ""  # "/vigil": the UI's links, redirects and cookies carry this prefix


class UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the server owns SIGTERM, SIGINT and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _StoreCollector:
    """Exposes the store's ``stats()`` as ``vigil_tsdb_*`` metrics at each scrape."""

    COUNTERS: ClassVar[frozenset[str]] = frozenset(
        {
            "head_samples_appended",
            "wal_write_errors",
            "head_compactions",
            "block_compactions",
            "series_created",
            "series_removed",
        }
    )
    HELP: ClassVar[dict[str, str]] = {
        "head_series": "Series in the head (in memory).",
        "head_samples_appended": "Samples appended to the head.",
        "rejected": "Samples the store refused, by reason.",
        "wal_bytes": "Size of the write-ahead log.",
        "bytes_on_disk": "Bytes the store uses on disk (blocks and WAL).",
        "head_compactions": "Head ranges written out as blocks.",
        "block_compactions": "Block merges.",
        "blocks": "Blocks on disk.",
    }

    def __init__(self, store: object) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        stats_fn = getattr(self._store, "stats", None)
        if stats_fn is None:
            return
        stats = stats_fn()
        fields = getattr(stats, "__dataclass_fields__", {})
        for key in sorted(fields):
            value = getattr(stats, key)
            doc = self.HELP.get(key, f"TSDB {key.replace('_', ' ')}.")
            if key == "rejected" and isinstance(value, dict):
                fam = CounterMetricFamily("vigil_tsdb_samples_rejected", doc, labels=["reason"])
                for reason, n in sorted(value.items()):
                    fam.add_metric([str(reason)], float(n))
                yield fam
            elif isinstance(value, bool) or not isinstance(value, int | float):
                continue
            elif key in self.COUNTERS:
                yield CounterMetricFamily(f"vigil_tsdb_{key}", doc, value)
            else:
                yield GaugeMetricFamily(f"vigil_tsdb_{key}", doc, value)


class _Targets:
    """Adapts the scrape manager's target health to the API's records."""

    def __init__(self, manager: ScrapeManager) -> None:
        self._manager = manager

    def active_targets(self) -> Sequence[ActiveTarget]:
        out = []
        for _job, targets in sorted(self._manager.targets().items()):
            for t in targets:
                last = None if t.last_scrape_ms is None else t.last_scrape_ms / 1000
                out.append(
                    ActiveTarget(
                        discovered_labels=t.discovered_labels.to_dict(),
                        labels=t.labels.to_dict(),
                        scrape_pool=t.scrape_pool,
                        scrape_url=t.scrape_url,
                        global_url=t.scrape_url,
                        health=str(t.health),
                        last_error=t.last_error,
                        last_scrape=last,
                        last_scrape_duration=t.last_scrape_duration_s,
                        scrape_interval=format_duration(t.interval_s),
                        scrape_timeout=format_duration(t.timeout_s),
                    )
                )
        return out

    def dropped_targets(self) -> Sequence[DroppedTarget]:
        return [
            DroppedTarget(d.discovered_labels.to_dict(), job)
            for job, dropped in sorted(self._manager.dropped_targets().items())
            for d in dropped
        ]


class Server:
    """Builds the store, the scrape manager and the HTTP app from settings, and runs them."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()
        self.config: VigilConfig | None = None
        self.storage: Any = None
        self.manager: ScrapeManager | None = None
        self.alerting: Alerting | None = None
        self.ui: UI | None = None
        self.storage_closed = False
        self.address = ""
        self._socket: socket.socket | None = None
        self._http: UvicornServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._ready = False
        self._reload_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._init_metrics()

    # -- metrics -------------------------------------------------------------

    def _init_metrics(self) -> None:
        reg = self.registry
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)
        Info("vigil_build", "Vigil's version.", registry=reg).info({"version": __version__})
        self._reload_ok = Gauge(
            "vigil_config_last_reload_successful",
            "Whether the last config (re)load succeeded.",
            registry=reg,
        )
        self._reload_ts = Gauge(
            "vigil_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully.",
            registry=reg,
        )

    # -- config --------------------------------------------------------------

    def read_config(self) -> VigilConfig:
        """The config file's contents, or the self-scrape default; raises ConfigError."""
        path = self.settings.config_file
        if path is not None:
            return load_config(path)
        return parse_config(self.settings.default_config(self._self_target()), "<default config>")

    def _self_target(self) -> str:
        host, _, port = self.address.rpartition(":")
        host = host.strip("[]")
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    # -- lifecycle -----------------------------------------------------------

    def _bind(self) -> None:
        host, port = parse_listen(self.settings.listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says TCP, and without it small responses wait ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"--listen {self.settings.listen}: can't bind: {exc.strerror}") from exc
        sock.listen(2048)
        sock.setblocking(False)
        self._socket = sock
        bound = sock.getsockname()
        self.address = (
            f"[{bound[0]}]:{bound[1]}" if family == socket.AF_INET6 else f"{bound[0]}:{bound[1]}"
        )

    def _open_storage(self, config: VigilConfig) -> Any:
        if self.settings.storage == "memory":
            return MemoryStorage()
        retention = config.storage.retention_time
        return TSDB.open(
            self.settings.data_dir,
            retention_ms=retention.ms if retention else DEFAULT_RETENTION_MS,
            retention_bytes=config.storage.retention_size or None,
            clock=lambda: int(self.clock() * 1000),
        )

    async def start(self) -> None:
        """Read the config, bind, open the store, start scraping and serving."""
        # httpx logs every request at INFO: one line per scrape would drown the
        # server's own log. Its warnings and errors still come through.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
        if self.settings.config_file is not None:
            config = self.read_config()  # fail before anything is opened or bound
            self.check_alerting(self.alerting_settings(config))
        self._bind()
        if self.settings.config_file is None:
            config = self.read_config()
            self.check_alerting(self.alerting_settings(config))
        started = time.monotonic()
        where = "memory" if self.settings.storage == "memory" else str(self.settings.data_dir)
        log.info("opening storage", extra={"path": where})
        self.storage = await asyncio.to_thread(self._open_storage, config)
        log.info(
            "opened storage",
            extra={"path": where, "seconds": round(time.monotonic() - started, 3)},
        )
        self.registry.register(_StoreCollector(self.storage))
        appendable: Appendable = self.storage
        self.manager = scrape_manager = ScrapeManager(
            appendable, clock=self.clock, registry=self.registry
        )
        await self._apply(config)
        engine = Engine()
        alerting = Alerting(
            self.alerting_settings(config),
            storage=self.storage,
            engine=engine,
            clock=self.clock,
            registry=self.registry,
        )
        self.alerting = alerting
        await alerting.start()
        am_api = AlertmanagerApi(
            lambda: alerting.notifier,
            receivers=alerting.receivers,
            config_text=alerting.config_text,
            version=__version__,
            clock=self.clock,
            put_alerts=alerting.put_alerts,
        )
        app = create_app(
            ApiOptions(
                appendable,
                registry=self.registry,
                targets=_Targets(self.manager),
                ready=lambda: self._ready,
                reload=self.reload,
                clock=self.clock,
                query=QueryOptions(self.storage, engine=engine),
                status=StatusOptions(
                    queryable=self.storage,
                    config=lambda: self.config,
                    flags=self._flags(),
                    store_stats=getattr(self.storage, "stats", None),
                ),
                routes=(
                    lambda wrap: list(rules_routes(alerting.rules, wrap)),
                    lambda wrap: list(alertmanager_routes(am_api)),
                    lambda wrap: list(history_routes(alerting.history, wrap, self.clock)),
                    lambda wrap: list(
                        health_routes(
                            _Targets(scrape_manager),
                            wrap,
                            queryable=self.storage,
                            admin_token=self.settings.health_admin_token,
                            clock=self.clock,
                        )
                    ),
                ),
            )
        )
        s = self.settings
        self.ui = await asyncio.to_thread(
            create_ui,
            UIOptions(
                data_dir=s.data_dir if s.storage != "memory" else None,
                public_read=s.public_read,
                public_ingest=s.public_ingest,
                extra_rules=(HEALTH_RUN_RULE,),
                dashboards_dir=s.dashboards_dir,
                base_path=s.ui_base_path,
            ),
        )
        uconfig = uvicorn.Config(
            self.ui.wrap(app),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._http = UvicornServer(uconfig)
        assert self._socket is not None
        self._http_task = asyncio.create_task(self._http.serve(sockets=[self._socket]))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        self._ready = True
        log.info(
            "vigil server ready",
            extra={
                "url": f"http://{self.address}",
                "config": str(self.settings.config_file or "<default: scrape itself>"),
                "jobs": [sc.job_name for sc in config.scrape_configs],
            },
        )

    def alerting_settings(self, config: VigilConfig) -> AlertingSettings:
        """Rules and notifier settings from the config file and the command line."""
        s = self.settings
        return AlertingSettings(
            rule_files=config.rule_files,
            default_rules=s.default_rules,
            notifier_config=s.notifier_config,
            data_dir=s.data_dir / "alerting" if s.storage != "memory" else None,
            evaluation_interval_s=config.global_config.evaluation_interval.ms / 1000.0,
            external_labels=dict(config.global_config.external_labels),
            external_url=f"http://{self._self_target()}" if self.address else "",
        )

    @staticmethod
    def check_alerting(settings: AlertingSettings) -> None:
        """Raise ConfigError (file:line:col) if a rule file or the notifier config is bad."""
        load_rule_files(settings.rule_paths())
        if settings.notifier_config is not None:
            load_notify_config(settings.notifier_config)

    def _flags(self) -> dict[str, str]:
        """The command-line settings, for ``/api/v1/status/flags``."""
        s = self.settings
        return {
            "config.file": str(s.config_file or ""),
            "storage.tsdb.path": str(s.data_dir),
            "storage": s.storage,
            "web.listen-address": s.listen,
            "notifier.config.file": str(s.notifier_config or ""),
            "rules.default": str(s.default_rules).lower(),
            "web.public-read": str(s.public_read).lower(),
            "web.public-ingest": str(s.public_ingest).lower(),
        }

    async def _apply(self, config: VigilConfig) -> None:
        assert self.manager is not None
        await self.manager.apply_config(config)
        self.config = config
        self._reload_ok.set(1)
        self._reload_ts.set(self.clock())

    async def reload(self) -> None:
        """Re-read the config and apply it; on error the old config stays and the error is raised."""
        async with self._reload_lock:
            try:
                config = await asyncio.to_thread(self.read_config)
                if self.config is not None and config.storage != self.config.storage:
                    log.warning("storage settings changed: they take effect at the next restart")
                alerting = self.alerting_settings(config)
                await asyncio.to_thread(self.check_alerting, alerting)
                if self.alerting is not None:
                    await self.alerting.reload(alerting)
                await self._apply(config)
            except (VigilError, ScrapeSetupError, OSError) as exc:
                self._reload_ok.set(0)
                text = exc.format() if isinstance(exc, VigilError) else str(exc)
                log.error("config reload failed; the old config stays", extra={"error": text})
                raise ReloadError(text) from None
            log.info(
                "config reloaded",
                extra={"jobs": [sc.job_name for sc in config.scrape_configs]},
            )

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        """Stop serving, stop scraping, close the store (in that order)."""
        self._ready = False
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        if self.alerting is not None:
            await self.alerting.stop()
        if self.manager is not None:
            await self.manager.stop()
        if self.storage is not None:
            close = getattr(self.storage, "close", None)
            if close is not None:
                await asyncio.to_thread(close)
            self.storage_closed = True
            log.info("closed storage")
        if self._socket is not None:
            self._socket.close()

    async def serve_forever(self) -> None:
        """start(), then run until SIGTERM/SIGINT (SIGHUP reloads), then stop()."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
                installed.append(sig)
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            installed.append(signal.SIGHUP)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
        try:
            await self.start()
            await self._stopping.wait()
            log.info("vigil server stopping")
        finally:
            await self.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_sighup(self) -> None:
        async def go() -> None:
            with contextlib.suppress(ReloadError):
                await self.reload()

        task = asyncio.ensure_future(go())
        self._background = task  # keep a reference until it finishes


class ReloadError(Exception):
    """A reload that failed; the message names file:line:col and field."""
