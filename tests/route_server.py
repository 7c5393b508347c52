"""A local HTTP handler serving a table of routes, for the download tests (localhost only).

Subclass it per test (``type("H", (RouteHandler,), {"routes": {}, "hits": []})``) or set
``routes`` and ``hits`` on it: ``routes`` maps a path to ``(status, body)``; every GET path is
appended to ``hits``; unknown paths answer 404.
"""

import http.server


class RouteHandler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}
    hits: list[str] = []
    not_found = b"not found"

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits.append(self.path)
        status, body = self.routes.get(self.path, (404, self.not_found))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
