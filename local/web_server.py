"""The local mode's web server: the built page and the read API on loopback.

What CloudFront does in AWS, on 127.0.0.1: files of the built page (``web/dist``) for ``GET`` and
``HEAD``, and every request under ``/api/`` to the read API's handler, called in process through
`FunctionUrl` (the function-URL event Lambda would build, whatever the method: the handler
answers 405 itself). Files: no directory listing, nothing outside the root (``..``, symbolic
links out, encoded slashes), 404 otherwise. Each request runs on a thread of its own, so a slow
request does not hold up the page's polling.
"""

from __future__ import annotations

import errno
import json
import mimetypes
import socketserver
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .function_url import FunctionUrl, HttpResponse

API_PREFIX = "/api/"
DEFAULT_PORT = 8000
PORT_OPTION = "--web-port"  # named in the busy-port error: the one way to choose another
#: Types of the files a page build holds; anything else by the standard table.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
#: Every file answer carries these (what the distribution's response-headers policy adds).
FILE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class PortBusy(OSError):
    """The port is taken; the message names the option that chooses another."""


class WebServer:
    def __init__(self, root: Path, api: FunctionUrl, *, port: int = DEFAULT_PORT,
                 host: str = "127.0.0.1") -> None:
        self.root = root.resolve()
        self.api = api
        self.host = host
        try:
            self.httpd = _Server((host, port), _Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortBusy(f"port {port} on {host} is already in use: choose another with "
                               f"{PORT_OPTION} PORT ({PORT_OPTION} 0 takes any free port)"
                               ) from None
            raise
        self.httpd.app = self
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="web-server",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(10)
        self.httpd.server_close()

    def file_for(self, raw_path: str) -> Path | None:
        """The file under the root that ``raw_path`` names, or None (missing, a directory,
        outside the root). ``/`` is ``index.html``."""
        path = unquote(raw_path)
        if "\0" in path or "\\" in path:
            return None
        relative = path.lstrip("/") or "index.html"
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser's open keep-alive connection must not hold up the exit
    # SO_REUSEADDR (the default here) lets a rerun bind while the last run's connections are in
    # TIME_WAIT; on Linux it never lets two servers listen on one port (SO_REUSEPORT stays off).
    allow_reuse_address = True
    app: WebServer

    def server_bind(self) -> None:
        # HTTPServer's own looks the address's name up (getfqdn), a DNS wait with no network.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: the page polls every second
    server_version = "crypto-live-local"

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._request_body()
        path = urlsplit(self.path).path
        if path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/"):
            response = self.server.app.api.invoke(
                self.command, self.path, self.headers.items(), body=body,
                source_ip=self.client_address[0], domain=self.headers.get("Host", "localhost"))
        elif self.command not in ("GET", "HEAD"):
            response = _json(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD read files",
                             [("Allow", "GET, HEAD")])
        else:
            response = self._file(path)
        self._send(response)

    def _request_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return b""
        return self.rfile.read(int(length))

    def _file(self, path: str) -> HttpResponse:
        found = self.server.app.file_for(path)
        if found is None:
            return _json(HTTPStatus.NOT_FOUND, f"no file {path}")
        content_type = (CONTENT_TYPES.get(found.suffix.lower())
                        or mimetypes.guess_type(found.name)[0] or "application/octet-stream")
        return HttpResponse(HTTPStatus.OK, [("Content-Type", content_type),
                                            *FILE_HEADERS.items()], found.read_bytes())

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":  # HEAD: the headers a GET would get, no body
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request on the console: the page polls every second


def _json(status: HTTPStatus, error: str,
          headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json"), *(headers or [])],
                        json.dumps({"error": error}).encode())
