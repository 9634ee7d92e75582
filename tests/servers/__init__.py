"""Real servers for ingestion tests, all on 127.0.0.1.

* :class:`RtspServer` — GStreamer's RTSP server (Debian packages) in a subprocess.
* :class:`MjpegServer` — an HTTP server streaming multipart JPEG, which can go silent.
* :class:`SilentServer` — accepts TCP connections and never says anything.
* :class:`StaticServer` — serves a folder over HTTP (HLS playlists and segments).
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gst_rtsp_available() -> str | None:
    """None if the GStreamer RTSP server can run here, else the reason it cannot."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return (
            "GStreamer RTSP server not installed (apt-get install gstreamer1.0-rtsp "
            "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good "
            "gstreamer1.0-plugins-bad): " + probe.stderr.strip().splitlines()[-1]
        )
    return None


class RtspServer:
    """``rtsp://127.0.0.1:PORT/live`` serving an MP4's H.264 track in real time."""

    def __init__(
        self,
        video: Path,
        user: str | None = None,
        password: str | None = None,
        *,
        shared: bool = True,
    ) -> None:
        self.video = video
        self.shared = shared
        self.port = free_port()
        self.user, self.password = user, password
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        cred = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/live"

    def start(self) -> None:
        cmd = [
            SYSTEM_PYTHON,
            str(HERE / "rtsp_server.py"),
            "--port",
            str(self.port),
            "--video",
            str(self.video),
        ]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        if not self.shared:
            cmd.append("--unshared")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "READY" not in line:
            self.proc.kill()
            raise RuntimeError(f"RTSP server did not start: {line}{self.proc.stdout.read()}")

    def kill(self) -> None:
        """Kill the server the hard way, as a crashed camera or a pulled cable would."""
        if self.proc is not None:
            self.proc.kill()
            self._reap()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self._reap()

    def _reap(self) -> None:
        assert self.proc is not None
        self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class MjpegServer:
    """``http://127.0.0.1:PORT/stream.mjpg``: JPEG frames at ``fps``; ``pause()`` keeps
    connections open but sends nothing, ``resume()`` carries on."""

    def __init__(self, jpegs: Sequence[bytes], fps: float = 10.0) -> None:
        self.jpegs = list(jpegs)
        self.fps = fps
        self.sending = threading.Event()
        self.sending.set()
        self.closed = threading.Event()
        self.connections = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/stream.mjpg":
                    self.send_error(404, "no such stream")
                    return
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not server.closed.is_set():
                        if not server.sending.is_set():
                            time.sleep(0.05)
                            continue
                        jpg = server.jpegs[i % len(server.jpegs)]
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(jpg)).encode()
                            + b"\r\n\r\n"
                            + jpg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        i += 1
                        time.sleep(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = _ThreadingServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        self.sending.clear()

    def resume(self) -> None:
        self.sending.set()

    def stop(self) -> None:
        self.closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class SilentServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._conns.append(conn)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for c in self._conns:
            c.close()
        self.sock.close()


class StaticServer:
    """Serves ``folder`` at ``http://127.0.0.1:PORT/``."""

    def __init__(self, folder: Path) -> None:
        folder_str = str(folder)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: object, **kw: object) -> None:
                super().__init__(*a, directory=folder_str, **kw)  # type: ignore[arg-type]

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = _ThreadingServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


__all__ = [
    "MjpegServer",
    "RtspServer",
    "SilentServer",
    "StaticServer",
    "free_port",
    "gst_rtsp_available",
]
