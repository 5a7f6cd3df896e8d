"""The consumer's reconnect back-off: doubles while reconnecting fails, starts again after a connection that
worked (it used to only grow, to 30 s per broker blip once a long-lived worker had seen a few restarts)."""

from __future__ import annotations

from inbox.consumer import InboxConsumer
from inbox.processing import Processor
from inbox.registry import Registry


class RecordingStop:
    """A stop event whose waits return at once and are recorded."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.stopped = False

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.stopped

    def set(self) -> None:
        self.stopped = True


def test_consumer__broker_lost_repeatedly__back_off_restarts_after_each_working_connection():
    handlers = Registry()
    stop = RecordingStop()
    consumer = InboxConsumer(Processor(handlers), url="amqp://unused", handlers=handlers, stop=stop)  # type: ignore[arg-type]
    reached_consuming = iter([True, True, True, False, False, False])

    def session(once: bool, idle_timeout: float) -> None:
        consumer._consuming = next(reached_consuming)
        if consumer._consuming is False and len(stop.waits) == 5:
            stop.set()
        raise ConnectionError("broker gone")

    consumer._session = session  # type: ignore[method-assign]
    consumer.run()
    assert stop.waits == [0.5, 0.5, 0.5, 1.0, 2.0, 4.0]
