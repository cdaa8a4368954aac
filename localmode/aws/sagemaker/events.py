"""EventBridge, locally: events handed to the rule's target in order, on one delivery thread."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)

EventSink = Callable[[dict[str, Any]], None]


class EventDelivery:
    """Like one EventBridge rule target: events arrive in order, never on the thread that emitted them."""

    def __init__(self, target: EventSink) -> None:
        self._target = target
        self._events: queue.Queue[tuple[dict[str, Any] | None, threading.Event]] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver, daemon=True, name="event-delivery")
        self._thread.start()

    def emit(self, event: dict[str, Any], wait: bool = False) -> None:
        """Hand the event to the delivery thread. Never deliver on an API request's thread: the target
        may be calling this very API right now."""
        delivered = threading.Event()
        self._events.put((event, delivered))
        if wait:
            delivered.wait()

    def _deliver(self) -> None:
        while True:
            event, delivered = self._events.get()
            if event is None:
                delivered.set()
                return
            try:
                self._target(event)
            except Exception:  # the event target failing must not take the job down with it
                LOG.exception("event delivery failed for %s", event["resources"])
            delivered.set()

    def stop(self) -> None:
        self._events.put((None, threading.Event()))
        self._thread.join(timeout=15)
