"""What every part of the local SageMaker shares: one account's resources behind one lock, their ARNs
and tags, the threads API calls leave running, the child-process spawner and event delivery."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localmode.aws.processes import Spawner
from localmode.aws.sagemaker.events import EventDelivery, EventSink
from localmode.aws.sagemaker.hosting import ModelServer
from localmode.aws.sagemaker.runtimes import ImageCatalog
from localmode.aws.sagemaker.training import TrainingProcess


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BackendCore:
    """The state the operation classes (training_jobs, models, endpoints, tags) work on."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        workdir: Path,
        images: ImageCatalog,
        s3_factory: Callable[[str], Any],  # the role SageMaker acts with
        on_event: EventSink,
        serve_timeout_seconds: float = 60.0,
        logs_factory: Callable[[str], Any] | None = None,  # CloudWatch Logs, as the job's role
        metrics_factory: Callable[[], Any] | None = None,  # CloudWatch, for the endpoints' metrics
        is_scalable_target: Callable[[str], bool] | None = None,  # Application Auto Scaling's registry
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.workdir = workdir
        self.images = images
        self._s3_factory = s3_factory
        self._logs_factory = logs_factory
        self._metrics_factory = metrics_factory
        self._metrics: Any = None  # the client, built on the first invocation
        self._is_scalable_target = is_scalable_target or (lambda _resource_id: False)
        self._serve_timeout = serve_timeout_seconds
        self._lock = threading.RLock()
        self.training_jobs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.model_package_groups: dict[str, dict[str, Any]] = {}  # by lower-case name
        self.model_packages: dict[str, dict[str, Any]] = {}  # by lower-case name (<group>/<version>)
        self._training_processes: dict[str, TrainingProcess] = {}
        self._servers: dict[str, ModelServer] = {}
        self._threads: list[threading.Thread] = []
        self._generation: dict[str, int] = {}
        self._samplers: dict[str, Any] = {}  # endpoint config name -> its data capture Sampler
        self._utilization: dict[str, Any] = {}  # endpoint name -> the UtilizationSampler of its server
        self._events = EventDelivery(on_event)
        self._spawner = Spawner()

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    def _start_thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [item for item in self._threads if item.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _set_tags(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        merged = {tag["Key"]: tag["Value"] for tag in self.tags.get(arn, [])}
        merged.update({tag["Key"]: tag["Value"] for tag in tags or []})
        self.tags[arn] = [{"Key": key, "Value": value} for key, value in merged.items()]
