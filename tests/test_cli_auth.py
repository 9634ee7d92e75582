"""``crowdsafe users`` and ``crowdsafe tokens`` round trips, and ``crowdsafe run`` refusing
an open API off loopback: the real commands, in subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crowdsafe.auth import AuditAction, AuthStore, Role

from .test_api import free_port

PASSWORD = "a long enough password"


def crowdsafe(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crowdsafe.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_and_tokens_round_trip(config_file: Path, tmp_path: Path) -> None:
    cfg = str(config_file)
    added = crowdsafe("users", "add", cfg, "olive", "--role", "operator", "--password-stdin",
                      stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    no_tty = crowdsafe("users", "add", cfg, "vera", "--role", "viewer")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    again = crowdsafe("users", "add", cfg, "olive", "--role", "admin", "--password-stdin",
                      stdin=PASSWORD + "\n")  # fmt: skip
    assert again.returncode == 2 and "exists already" in again.stderr
    bad = crowdsafe("users", "add", cfg, "bad name", "--role", "admin", "--password-stdin")
    assert bad.returncode == 2 and "user name 'bad name'" in bad.stderr
    listed = crowdsafe("users", "list", cfg)
    assert listed.stdout.startswith("olive\toperator\t")
    changed = crowdsafe(
        "users", "passwd", cfg, "olive", "--password-stdin", stdin="another one!!\n"
    )
    assert changed.returncode == 0, changed.stderr

    made = crowdsafe("tokens", "add", cfg, "prometheus", "--role", "viewer")
    assert made.returncode == 0, made.stderr
    value = made.stdout.strip()
    assert value.startswith("cst_") and "shown only now" in made.stderr
    assert "prometheus\tviewer\tcreated" in crowdsafe("tokens", "list", cfg).stdout

    store = AuthStore(tmp_path / "auth.db")  # the default: beside the storage database
    assert store.verify_password("olive", "another one!!") is Role.OPERATOR
    assert store.token_principal(value) == ("prometheus", Role.VIEWER)
    store.close()

    assert crowdsafe("tokens", "revoke", cfg, "prometheus").returncode == 0
    assert "revoked" in crowdsafe("tokens", "list", cfg).stdout
    gone = crowdsafe("tokens", "revoke", cfg, "prometheus")
    assert gone.returncode == 2 and "no active token labelled 'prometheus'" in gone.stderr
    assert crowdsafe("users", "remove", cfg, "olive").returncode == 0
    assert crowdsafe("users", "list", cfg).stdout == ""

    store = AuthStore(tmp_path / "auth.db")
    assert store.token_principal(value) is None
    actions = [e.action for e in reversed(store.audit())]
    store.close()
    assert actions == [
        AuditAction.USER_ADD,
        AuditAction.USER_PASSWORD,
        AuditAction.TOKEN_ADD,
        AuditAction.TOKEN_REVOKE,
        AuditAction.USER_REMOVE,
    ]


def test_run_refuses_to_serve_an_open_api_off_loopback(config_file: Path) -> None:
    r = crowdsafe("run", str(config_file), "--host", "0.0.0.0", "--port", str(free_port()))
    assert r.returncode == 2
    assert "refusing to serve on 0.0.0.0 without authentication" in r.stderr
    assert "crowdsafe users add CONFIG NAME --role admin" in r.stderr
    assert "--insecure-no-auth" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_with_insecure_no_auth_serves_openly_and_says_so(config_file: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crowdsafe.cli", "run", str(config_file), "--host", "0.0.0.0",
         "--port", str(port), "--quiet", "--insecure-no-auth"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                r = httpx.get(base + "/api/zones", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "run did not start serving"
                time.sleep(0.3)
        assert r.status_code == 200 and {z["id"] for z in r.json()} == {"left", "right"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out.count("WITHOUT ANY LOGIN") >= 2  # the log line and the banner


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 and its key, made by Debian's openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_run_serves_https_with_the_configs_certificate_and_secure_cookies(
    config_file: Path, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    config_file.write_text(
        config_file.read_text() + f"auth:\n  tls: {{certfile: {cert}, keyfile: {key}}}\n"
    )
    AuthStore(tmp_path / "auth.db").add_user("olive", Role.OPERATOR, PASSWORD)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crowdsafe.cli", "run", str(config_file), "--port", str(port),
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                health = httpx.get(base + "/healthz", verify=trust, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "run did not start serving"
                time.sleep(0.3)
        assert health.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).raise_for_status()
        login = httpx.post(
            base + "/api/session",
            json={"user": "olive", "password": PASSWORD},
            headers={"Origin": base},
            verify=trust,
        )
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        with httpx.Client(base_url=base, verify=trust, cookies=login.cookies) as client:
            assert client.get("/api/zones").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"dashboard at https://127.0.0.1:{port}/" in out
