"""A bounded local HTTP server for the storage-backend tests."""
import functools
import http.server
import threading

import pytest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


class LocalHTTPServer:
    """Serves ``root`` on 127.0.0.1 (a free port) from a daemon thread.

    Bounded: requests time out after 10 s, and :meth:`stop` (called at the
    end of the test at the latest) closes the listening socket, so a later
    request gets "connection refused".
    """

    def __init__(self, root):
        handler = functools.partial(_QuietHandler, directory=str(root))
        handler.timeout = 10
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     handler)
        self.httpd.daemon_threads = True
        self.base = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs=dict(poll_interval=0.05),
                                       daemon=True)
        self.thread.start()
        self.running = True

    def url(self, rel: str = '') -> str:
        return f'{self.base}/{rel}'.rstrip('/')

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)
            self.running = False


@pytest.fixture
def http_server(tmp_path):
    """``LocalHTTPServer`` on ``tmp_path / 'www'`` (created empty)."""
    root = tmp_path / 'www'
    root.mkdir()
    server = LocalHTTPServer(root)
    server.root = root
    yield server
    server.stop()
