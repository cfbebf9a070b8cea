"""`gitops-gen serve`: POST /validate of a commit seen before, and of a new one, over HTTP.

One 3-environment repository (benchmarks.repos) is served twice under uvicorn on 127.0.0.1, in
threads of this process: once with no report kept (report_cache=0), where every request checks
the commit out and validates it as each request did before reports were kept (the baseline: a
cold validation of the same commit), and once as `serve` runs by default. Against the latter
the benchmark times a commit validated before (answered from its kept report) and new commits
(below), each the wall time of one request as the client sees it. Medians (p50), with their
ratio to the baseline; the checkout of a commit and the worker's validation of a checked-out
tree are timed alone too, in the same rounds as the cold and the new requests (interleaved, so
a busy moment hits all alike), so what a new commit costs beyond validating it shows (the
median of each round's difference);
GET /healthz gives the floor of any answer over HTTP here.

The service runs as `serve` runs it: workers kept started ahead of their validations
(checks/isolated.keep_spares), and renders kept by content (model/rendercache.py) in this run's
own cache directory, which the warm-up fills. Each timed request comes once the spare workers
have loaded the checks (GET /metrics, gitops_gen_workers_loaded), as between two pull requests.
Each new commit changes one environment's values (dev's, a pod annotation), so one render of
three is Helm's and two are found kept, as in a pull request that changes one environment; the
worker's validation alone is timed on another commit changed the same way. The baseline
server keeps no report, but finds the renders of the commit it validates kept.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import git
import httpx

from .child import verdict
from .repos import build_repo, isolated

ENVS = 3
RUNS = 5  # cold validations, new commits, and checkouts timed
REPEATS = 50  # requests for a commit validated before
TARGET_REPEATED_MS = 10.0  # p50 of a commit validated before
TARGET_NEW_MS = 150.0  # p50 of a new commit
TARGET_BEYOND_MS = 150.0  # p50 of a new commit, beyond the worker's validation of one like it


@contextmanager
def _serving(root: Path, **options: Any) -> Iterator[str]:
    import uvicorn

    from gitops_gen.checks import isolated
    from gitops_gen.service.server import SPARE_WORKERS, create_app, use_scratch

    use_scratch()  # as `serve` does (server.run): checkouts in memory when it has room
    isolated.keep_spares(SPARE_WORKERS, load_helm=True)
    app = create_app(root, webhook_secret=None, github=None, **options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        isolated.keep_spares(0)


def _post(client: httpx.Client, url: str, sha: str, expect: str | None) -> float:
    start = time.perf_counter()
    response = client.post(f"{url}/validate", json={"ref": sha})
    seconds = time.perf_counter() - start
    if response.status_code != 200 or response.headers["x-gitops-gen-commit"] != sha:
        raise RuntimeError(f"POST /validate {sha[:12]}: {response.status_code} {response.text}")
    if expect and response.headers["x-gitops-gen-report"] != expect:
        raise RuntimeError(f"POST /validate {sha[:12]} was a "
                           f"{response.headers['x-gitops-gen-report']}, not a {expect}")
    return seconds


def _change_one(repo: git.Repo, mark: str) -> str:
    """A new commit whose dev environment has a new pod annotation: one environment of the
    three renders anew, as in a pull request that changes one."""
    values = Path(repo.working_tree_dir or ".") / "overlays" / "dev" / "values.yaml"
    text = values.read_text().split("# bench mark\n")[0]
    values.write_text(f"{text}# bench mark\npostgresql:\n  podAnnotations:\n"
                      f"    bench.example.com/mark: {mark}\n")
    repo.git.commit("--quiet", "-am", f"dev: {mark}")
    return str(repo.head.commit.hexsha)


def _idle(client: httpx.Client, url: str) -> None:
    """Wait (60 s at most) until the service's spare workers have loaded the checks, as
    between two pull requests: GET /metrics, gitops_gen_workers_loaded."""
    from gitops_gen.service.server import SPARE_WORKERS

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in client.get(f"{url}/metrics").text.splitlines():
            if line.startswith("gitops_gen_workers_loaded ") and \
                    float(line.split()[1]) >= SPARE_WORKERS:
                return
        time.sleep(0.05)
    raise RuntimeError("the service's spare workers did not load within 60 s")


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _alone(root: Path, sha: str) -> tuple[float, float]:
    """The checkout of sha, then the worker's validation of its tree: seconds of each."""
    from gitops_gen.checks import isolated as worker
    from gitops_gen.checks import rendering

    start = time.perf_counter()
    with rendering.checkout(root, sha) as tree:
        checkout = time.perf_counter() - start
        validation = _timed(lambda: worker.validate(tree))
    return checkout, validation


def _p50(seconds: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(seconds) * 1000, "best_ms": min(seconds) * 1000,
            "n": len(seconds)}


def run(runs: int = RUNS, repeats: int = REPEATS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with isolated(tmp):
            root = build_repo(tmp / "repo", ENVS)
            repo = git.Repo(root)
            head = repo.head.commit.hexsha
            fresh = [(_change_one(repo, f"request-{n}"), _change_one(repo, f"alone-{n}"))
                     for n in range(runs)]
            _alone(root, head)  # warm-up
            cold, new, alone = [], [], []
            with httpx.Client(timeout=600) as client, _serving(root, report_cache=0) as uncached, \
                    _serving(root) as url:
                _post(client, uncached, head, "miss")  # warm-up
                floor = [_timed(lambda: client.get(f"{url}/healthz").raise_for_status())
                         for _ in range(repeats)]
                _post(client, url, head, "miss")
                repeated = [_post(client, url, head, "hit") for _ in range(repeats)]
                for sha, other in fresh:  # interleaved: a busy moment hits every kind alike
                    _idle(client, url)
                    cold.append(_post(client, uncached, head, "miss"))
                    _idle(client, url)
                    new.append(_post(client, url, sha, "miss"))
                    _idle(client, url)
                    alone.append(_alone(root, other))
    figures = {"healthz": _p50(floor), "baseline": _p50(cold), "repeated": _p50(repeated),
               "new": _p50(new), "checkout": _p50([c for c, _ in alone]),
               "validation": _p50([v for _, v in alone])}
    base = figures["baseline"]["p50_ms"]
    for name in ("repeated", "new"):
        figures[name]["ratio"] = figures[name]["p50_ms"] / base
    # per round: the new commit's request over the worker's validation timed beside it
    beyond = statistics.median(n - v for n, (_, v) in zip(new, alone, strict=True)) * 1000
    return {
        "environments": ENVS, **figures, "new_beyond_validation_ms": beyond,
        "targets": {"repeated_ms": TARGET_REPEATED_MS, "new_ms": TARGET_NEW_MS,
                    "beyond_ms": TARGET_BEYOND_MS},
        "targets_met": {"repeated": figures["repeated"]["p50_ms"] <= TARGET_REPEATED_MS,
                        "new": figures["new"]["p50_ms"] <= TARGET_NEW_MS,
                        "beyond": beyond <= TARGET_BEYOND_MS},
    }


def format_figures(figures: dict[str, Any]) -> str:
    met = figures["targets_met"]
    rows = [("cold validation (baseline)", figures["baseline"]),
            ("commit validated before", figures["repeated"]),
            ("GET /healthz (HTTP floor)", figures["healthz"]),
            ("new commit", figures["new"]),
            ("checkout alone", figures["checkout"]),
            ("worker validation alone", figures["validation"])]
    lines = [f"serve: POST /validate over HTTP, {figures['environments']}-environment repository "
             "(baseline: no report kept, each request checks out and validates)",
             f"  {'':<28}{'p50':>10}{'best':>10}{'runs':>6}{'ratio':>9}"]
    for name, fig in rows:
        ratio = f"{fig['ratio']:>8.3f}x" if "ratio" in fig else ""
        lines.append(f"  {name:<28}{fig['p50_ms']:>7.1f} ms{fig['best_ms']:>7.1f} ms"
                     f"{fig['n']:>6}{ratio}")
    lines.append(
        f"  new commit beyond the worker's validation: {figures['new_beyond_validation_ms']:.0f}"
        f" ms; targets: commit validated before <= {TARGET_REPEATED_MS:.0f} ms (p50) "
        f"{verdict(met['repeated'])}; new commit <= {TARGET_NEW_MS:.0f} ms (p50) "
        f"{verdict(met['new'])}; beyond the validation <= {TARGET_BEYOND_MS:.0f} ms "
        f"{verdict(met['beyond'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_figures(run()))
