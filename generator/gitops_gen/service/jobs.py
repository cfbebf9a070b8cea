"""Work done after the reply: a bounded queue and a few worker threads.

GitHub gives a webhook 10 seconds to answer; fetching and validating a commit can take
longer. The webhook puts its work here and answers 202 at once. A job has a key: a job whose
key is already waiting is not queued twice (the same commit's dashboard snapshot asked for by
every page load). A full queue refuses the job (the caller answers 503, GitHub can redeliver).
Jobs live in this process only: a replica that stops loses what it had queued.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    key: str
    run: Callable[[], None]


class JobQueue:
    def __init__(self, *, workers: int = 1, capacity: int = 32,
                 on_depth: Callable[[int], None] | None = None) -> None:
        self.capacity = capacity
        self.workers = workers
        self._waiting: deque[Job] = deque()
        self._keys: set[str] = set()  # keys of waiting jobs
        self._running = 0
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._closed = False
        self._on_depth = on_depth or (lambda _depth: None)

    @property
    def depth(self) -> int:
        """Jobs waiting or running."""
        with self._cond:
            return len(self._waiting) + self._running

    def pending(self, key: str) -> bool:
        with self._cond:
            return key in self._keys

    def submit(self, key: str, run: Callable[[], None]) -> bool:
        """Queue run under key; True when queued or a job with that key is already waiting,
        False when the queue is full or closed."""
        with self._cond:
            if key in self._keys:
                return True
            if self._closed or len(self._waiting) + self._running >= self.capacity:
                return False
            self._waiting.append(Job(key, run))
            self._keys.add(key)
            self._start_workers()
            self._cond.notify_all()  # a worker, not only a wait_idle() caller, must wake
            self._on_depth(len(self._waiting) + self._running)
        return True

    def _start_workers(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name="gitops-gen-job", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                job = self._waiting.popleft()
                self._keys.discard(job.key)
                self._running += 1
            try:
                job.run()
            except Exception as exc:  # noqa: BLE001 - one failed job must not stop the worker
                # The type only: a message could carry what a log must not.
                log.error("job %s failed: %s", job.key, type(exc).__name__)
            finally:
                with self._cond:
                    self._running -= 1
                    self._on_depth(len(self._waiting) + self._running)
                    self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing waits or runs; False when timeout (seconds) passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting and not self._running,
                                       timeout)

    def close(self, timeout: float = 30.0) -> bool:
        """Refuse new jobs, let the workers finish what is queued; False if they did not
        within timeout."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)
