"""The framework's ceiling: a bare ASGI app that answers every request with the same stored response.

`bench.spike` saves what Kibitz answered to the widget's first thread read (the body as sent, still
compressed, with its Content-Type, Content-Encoding and the caching headers) and serves it with this
app under uvicorn, with the options `kibitz serve` uses. Whatever Kibitz does beyond handing bytes to
uvicorn shows as the gap between the two.

    python -m bench.bare --response DIR/bare.json --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from bench.server import Service

ENV = "BENCH_BARE_RESPONSE"  # where the workers find the response (a JSON file)
# Replayed as Kibitz sent them; everything else (date, content-length) uvicorn or this app sets.
KEPT_HEADERS = ("content-type", "content-encoding", "vary", "cache-control", "etag")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def save_response(path: Path, headers: Sequence[tuple[str, str]], body: bytes) -> None:
    """Store a response for the app: the body next to ``path``, the headers in it."""
    body_path = path.with_suffix(".body")
    body_path.write_bytes(body)
    kept = [(k.lower(), v) for k, v in headers if k.lower() in KEPT_HEADERS]
    path.write_text(json.dumps({"headers": kept, "body": str(body_path)}), encoding="utf-8")


def load_response(path: Path) -> tuple[list[tuple[bytes, bytes]], bytes]:
    data = json.loads(path.read_text(encoding="utf-8"))
    body = Path(data["body"]).read_bytes()
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in data["headers"]]
    headers.append((b"content-length", str(len(body)).encode()))
    return headers, body


class Bare:
    """Every HTTP request gets the stored response; lifespan is acknowledged."""

    def __init__(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.start = {"type": "http.response.start", "status": 200, "headers": headers}
        self.body = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await send(self.start)
        await send(self.body)


class BareHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol answering every request, once its head is parsed, with the
    stored response (after uvicorn's Date header), in one write; nothing reaches the app."""

    response: tuple[list[tuple[bytes, bytes]], bytes] | None = None

    def on_headers_complete(self) -> None:
        if BareHttp.response is None:
            BareHttp.response = load_response(Path(os.environ[ENV]))
        headers, body = BareHttp.response
        parts = [STATUS_LINE[200]]
        for name, value in (*self.server_state.default_headers, *headers):
            parts += (name, b": ", value, b"\r\n")
        self.transport.write(b"".join([*parts, b"\r\n", body]))
        self.on_response_complete()  # uvicorn's own: counts it, arms the keep-alive timer

    def on_message_complete(self) -> None:
        pass  # answered already


def factory() -> Bare:
    """What each uvicorn worker runs (the response file comes from the environment)."""
    return Bare(*load_response(Path(os.environ[ENV])))


class BareServer(Service):
    """`python -m bench.bare` on a loopback port, started from the repository's root."""

    name = "bare ASGI app"
    ready_path = "/"

    def __init__(self, response: Path, *, workers: int, port: int, log: Path, wire: bool = False) -> None:
        super().__init__(workers=workers, port=port, log=log, cwd=Path(__file__).resolve().parent.parent)
        self.response = response
        self.wire = wire
        if wire:
            self.name = "bare protocol"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "bench.bare", "--response", str(self.response)]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        return [*command, "--wire"] if self.wire else command


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--response", type=Path, required=True, help="a file written by save_response")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--wire", action="store_true", help="answer in the HTTP protocol (BareHttp)")
    args = parser.parse_args(argv)
    os.environ[ENV] = str(args.response.resolve())
    load_response(args.response)  # fail here, once, rather than in every worker
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    # The options `kibitz serve` passes to uvicorn (kibitz/cli.py), on the same event loop and parser.
    uvicorn.run(
        "bench.bare:factory",
        factory=True,
        workers=args.workers,
        host="127.0.0.1",
        port=args.port,
        log_level="info",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        http=BareHttp if args.wire else "httptools",
    )


if __name__ == "__main__":
    main()
