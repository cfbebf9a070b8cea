"""Headless Chromium (Debian's `chromium`) for the dashboard's tests, and a small DOM to read
what it rendered.

Absent Chromium, a test is skipped with the reason, unless GITOPS_GEN_REQUIRE_CHROMIUM=1 (CI),
where that is a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

REQUIRE_VAR = "GITOPS_GEN_REQUIRE_CHROMIUM"
SCREENSHOTS_VAR = "GITOPS_GEN_SCREENSHOTS"  # a directory to keep screenshots in, if set
TIMEOUT = 120  # seconds for one Chromium run
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "source", "track", "wbr"})


def chromium_binary() -> str:
    """The chromium executable, or the test is skipped (failed under REQUIRE_VAR=1)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium): the dashboard's browser " \
             "tests need it"
    if os.environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"{REQUIRE_VAR}=1: {reason}")
    pytest.skip(reason)


@dataclass
class Chromium:
    binary: str
    profile: Path

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}", *args],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
            env={**os.environ, "HOME": str(self.profile)})
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    def dom(self, url: str, *extra: str) -> Element:
        """The DOM Chromium built for url (after its scripts ran), as a tree."""
        return parse(self._run(*extra, "--dump-dom", url).stdout)

    def watch(self, url: str, until: Callable[[Element], bool], seconds: float = 120) -> Element:
        """Keep url open in Chromium (DevTools protocol over --remote-debugging-pipe) and read
        its live DOM every half second until until(dom); that DOM."""
        to_chrome_r, to_chrome_w = _high(os.pipe())
        from_chrome_r, from_chrome_w = _high(os.pipe())
        # The protocol's pipes must be the child's fds 3 (in) and 4 (out): a small Python
        # trampoline puts them there and executes Chromium.
        trampoline = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
                      "os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])")
        command = [sys.executable, "-c", trampoline, str(to_chrome_r), str(from_chrome_w),
                   self.binary, *FLAGS, f"--user-data-dir={self.profile}",
                   "--remote-debugging-pipe", "about:blank"]
        log = (self.profile / "chromium.log").open("wb")
        process = subprocess.Popen(command, pass_fds=(to_chrome_r, from_chrome_w),
                                   stdout=log, stderr=log,
                                   env={**os.environ, "HOME": str(self.profile)})
        log.close()
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        cdp = _DevTools(to_chrome_w, from_chrome_r)
        try:
            target = cdp.call("Target.createTarget", {"url": url})["targetId"]
            session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"]
            deadline = time.monotonic() + seconds
            while True:
                result = cdp.call("Runtime.evaluate", {
                    "expression": "document.documentElement.outerHTML",
                    "returnByValue": True}, session)
                dom = parse(str(result["result"].get("value", "")))
                if until(dom):
                    return dom
                assert time.monotonic() < deadline, f"{url}: not there in {seconds} s"
                time.sleep(0.5)
        finally:
            os.close(to_chrome_w)
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)
            os.close(from_chrome_r)

    def screenshot(self, url: str, path: Path, width: int = 1280, height: int = 900) -> Path:
        self._run(f"--screenshot={path}", f"--window-size={width},{height}", url)
        assert png_size(path) == (width, height)
        keep = os.environ.get(SCREENSHOTS_VAR)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path


@pytest.fixture
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    return Chromium(chromium_binary(), tmp_path_factory.mktemp("chromium-profile"))


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The pair moved above the fds a child's redirections use (3 and 4)."""
    out = []
    for fd in fds:
        out.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100))
        os.close(fd)
    return out[0], out[1]


class _DevTools:
    """Chrome DevTools protocol messages over a pipe: JSON, each ended by a NUL byte."""

    def __init__(self, out_fd: int, in_fd: int) -> None:
        self.out_fd, self.in_fd = out_fd, in_fd
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, params: dict[str, Any], session: str | None = None,
             seconds: float = 60) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.out_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + seconds
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self.next_id:
                    assert "error" not in answer, answer["error"]
                    return dict(answer["result"])
            left = deadline - time.monotonic()
            assert left > 0, f"no answer to {method}"
            ready, _, _ = select.select([self.in_fd], [], [], left)
            if ready:
                chunk = os.read(self.in_fd, 1 << 16)
                assert chunk, "chromium closed the DevTools pipe (see chromium.log)"
                self.buffer += chunk


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


# ---- a DOM small enough to read ---------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.walk()

    def all(self, selector: str) -> list[Element]:
        """Elements matching a tiny selector: tag, .class, #id, [attr] or [attr=value],
        combined without spaces (e.g. article.env[data-env=dev])."""
        match = _matcher(selector)
        return [el for el in self.walk() if match(el)]

    def one(self, selector: str) -> Element:
        found = self.all(selector)
        assert len(found) == 1, f"{selector}: {len(found)} elements"
        return found[0]


def _matcher(selector: str) -> Callable[[Element], bool]:
    import re

    tag = re.match(r"^[a-z0-9]+", selector)
    classes = re.findall(r"\.([-\w]+)", selector)
    ids = re.findall(r"#([-\w]+)", selector)
    attrs = re.findall(r"\[([-\w]+)(?:=([^\]]*))?\]", selector)

    def match(el: Element) -> bool:
        return ((not tag or el.tag == tag.group(0))
                and all(c in el.classes for c in classes)
                and all(el.attrs.get("id") == i for i in ids)
                and all(a in el.attrs and (v == "" or el.attrs[a] == v) for a, v in attrs))

    return match


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(el)
        if tag not in _VOID:
            self.stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
