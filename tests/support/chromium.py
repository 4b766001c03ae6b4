"""A headless Chromium page driven over the DevTools protocol, for page tests
and the browser benchmark: open a URL and wait for its load event, evaluate
a script (promises awaited), read the result. Chromium writes the DevTools
address on stderr; the page is found through its /json/list endpoint."""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEADLINE = 60


class Page:
    def __init__(self, profile: Path, width: int = 1280, height: int = 900) -> None:
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--allow-file-access-from-files",
             f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-port=0", "about:blank"], stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stderr], daemon=True).start()
        while True:
            found = re.search(r"DevTools listening on ws://([^/]+)/", lines.get(timeout=DEADLINE))
            if found:
                break
        with urllib.request.urlopen(f"http://{found.group(1)}/json/list", timeout=DEADLINE) as reply:
            target = next(t for t in json.load(reply) if t["type"] == "page")
        self.socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=DEADLINE)
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        while json.loads(self.socket.recv()).get("method") != "Page.loadEventFired":
            pass

    def run(self, script: str):
        reply = self.call("Runtime.evaluate", expression=script, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def close(self) -> None:
        self.socket.close()
        self.process.kill()
        self.process.wait(timeout=DEADLINE)

    def __enter__(self) -> "Page":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
