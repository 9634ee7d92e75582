"""Source addresses: what kind of source a URL names, and redaction of its secrets.

A camera URL often carries credentials (``rtsp://admin:pw@10.0.0.7/stream``).  The rule
of this module: the raw URL goes to FFmpeg and nowhere else.  Logs, errors, the API and
the dashboard get :func:`redact` (``rtsp://admin:***@10.0.0.7/stream``), and any text
that might quote the URL (FFmpeg's error messages do) goes through
:meth:`SourceAddress.scrub` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from crowdsafe.errors import ConfigError

__all__ = ["SCHEMES", "SourceAddress", "SourceKind", "redact", "unsupported_scheme", "url_scheme"]

_SECRET_QUERY_KEYS = re.compile(r"pass|pwd|token|key|secret|auth|sig", re.IGNORECASE)


class SourceKind(StrEnum):
    FILE = "file"
    FOLDER = "folder"
    RTSP = "rtsp"
    HTTP = "http"
    DEVICE = "device"


# The URL schemes a source may name; anything else (ftp://, udp://) is refused rather
# than read as a relative file name, which is what it would otherwise become.
SCHEMES = ("rtsp", "rtsps", "http", "https", "file", "device")


def url_scheme(url: str) -> str:
    """The lower-case scheme of a source URL, or "" for a plain path (including a
    Windows drive letter, ``C:\\video.mp4``)."""
    scheme = urlsplit(url).scheme.lower()
    return "" if len(scheme) <= 1 else scheme


def redact(url: str) -> str:
    """The URL with its password (and secret-looking query values) replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.scheme or parts.scheme == "file" or len(parts.scheme) == 1:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def unsupported_scheme(url: str) -> str:
    """The message refusing ``url``'s scheme (the URL redacted)."""
    return (
        f"unsupported URL scheme '{url_scheme(url)}' in '{redact(url)}'; a source is "
        "rtsp://, rtsps://, http://, https://, file://, device:/dev/videoN, sample:vtest "
        "or a file or folder path"
    )


@dataclass(frozen=True)
class SourceAddress:
    """A parsed source URL.  ``url`` is what FFmpeg opens; ``display`` is safe to show."""

    kind: SourceKind
    url: str
    display: str
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:  # never print the raw URL, even in a traceback
        return f"SourceAddress(kind={self.kind.value!r}, display={self.display!r})"

    __str__ = __repr__

    @classmethod
    def parse(cls, url: str, base_dir: Path | None = None) -> SourceAddress:
        """Classify ``url``: rtsp(s)://, http(s)://, device:/dev/videoN, a folder or a file.

        Raises ConfigError for a scheme that is not one of :data:`SCHEMES`."""
        parts = urlsplit(url)
        scheme = url_scheme(url)
        if scheme and scheme not in SCHEMES:
            raise ConfigError(unsupported_scheme(url))
        secrets: list[str] = []
        if parts.password:
            secrets += [parts.password, unquote(parts.password)]
        for k, v in parse_qsl(parts.query):
            if _SECRET_QUERY_KEYS.search(k) and v:
                secrets.append(v)
        if scheme in ("rtsp", "rtsps"):
            kind = SourceKind.RTSP
        elif scheme in ("http", "https"):
            kind = SourceKind.HTTP
        elif scheme == "device":
            return cls(SourceKind.DEVICE, parts.path or parts.netloc, url)
        else:
            path = Path(parts.path if scheme == "file" else url).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            kind = SourceKind.FOLDER if path.is_dir() else SourceKind.FILE
            return cls(kind, str(path), str(path))
        return cls(kind, url, redact(url), tuple(s for s in secrets if s))

    def scrub(self, text: str) -> str:
        """``text`` with the raw URL and every secret in it replaced."""
        out = text.replace(self.url, self.display)
        for secret in sorted(self.secrets, key=len, reverse=True):
            out = out.replace(secret, "***")
        return out
