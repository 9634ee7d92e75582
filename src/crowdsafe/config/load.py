"""Reading a config: :func:`load_config` (a file) and :func:`parse_config` (YAML text).

These are the only ways in; nothing is read at import time.  Every problem becomes one
:class:`~crowdsafe.errors.ConfigError` listing each finding with the file, the line, the
key path as written in the YAML (``cameras[0].zones[1].polygon``) and what would be
valid, because whoever reads it is fixing a YAML file, not a pydantic model:

* pydantic's own parts of a location that are no key of the file (the tag of the union
  member it tried, ``detector.nanodet``; validator wrappers) are dropped;
* an unknown ``kind``/``backend`` is reported at that key, with the values it may take;
* a check across sections names its key path at the start of its message, and is
  reported at that path's line; a section's own check may do the same with a path below
  the section (``zones[1].polygon[2]: ...`` from a camera), reported at that line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crowdsafe.config.privacy import MODEL_ROLES
from crowdsafe.config.root import CrowdsafeConfig
from crowdsafe.errors import ConfigError

__all__ = ["findings_error", "load_config", "parse_config"]

Loc = tuple[int | str, ...]

# A check across sections (such as a reference to a zone defined under a camera) fails
# at the top level; its message starts with the key path it is about.
_KEY_PATH = re.compile(r"([a-z_]+(?:\.[a-z_]+|\[\d+\])*): (.*)", re.DOTALL)


def _located(msg: str) -> tuple[Loc, str] | None:
    """(key path, rest of the message) of a message that starts with a key path such as
    ``forecast.events[0].zones[1]: ...`` (relative to where it failed), or None."""
    m = _KEY_PATH.fullmatch(msg)
    if m is None:
        return None
    loc: list[int | str] = []
    for name, index in re.findall(r"([a-z_]+)|\[(\d+)\]", m.group(1)):
        loc.append(int(index) if index else name)
    return tuple(loc), m.group(2)


def _loc_to_str(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the YAML node at ``loc`` (or its nearest existing parent)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    nxt = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def _yaml_loc(loc: Loc, data: Any, missing: bool) -> Loc:
    """``loc`` as a path through the YAML ``data``: a part naming no key at its place is
    pydantic's (a union member's tag, a validator wrapper) and is dropped, except the
    last part of a ``missing`` error, which is the key that should be there."""
    out: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif missing and i == len(loc) - 1:
            out.append(part)
        elif not isinstance(node, dict) and "[" not in part:
            # below a value the path cannot follow: keep what is not a validator wrapper
            out.append(part)
            node = None
    return tuple(out)


def _format_errors(exc: ValidationError, source: str, root: yaml.Node | None, data: Any) -> str:
    lines = [f"invalid config {source}:"]
    for err in exc.errors(include_url=False):
        loc = _yaml_loc(err["loc"], data, missing=err["type"] == "missing")
        msg = str(err["msg"]).removeprefix("Value error, ")
        located = _located(msg)
        if located is not None:  # a path below the failing model's own place
            loc, msg = (*loc, *located[0]), located[1]
        if err["type"] == "union_tag_invalid":
            # a section picked by kind/backend: report it at that key, with its choices
            ctx = err.get("ctx", {})
            key = str(ctx.get("discriminator", "kind")).strip("'")
            loc = (*loc, key)
            msg = f"unknown {key} '{ctx.get('tag')}'; it must be one of {ctx.get('expected_tags')}"
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line is not None else source
        if err["type"] == "extra_forbidden" and loc[:1] == ("models",) and len(loc) == 2:
            msg = (
                f"unknown model role '{loc[-1]}'; crowdsafe accepts only "
                f"{', '.join(MODEL_ROLES)}: it counts people and never identifies them or "
                "infers anything about them"
            )
        elif err["type"] == "extra_forbidden":
            parent = _loc_to_str(loc[:-1])
            msg = f"unknown key '{loc[-1]}' under {parent}; check its spelling"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  {where}: {_loc_to_str(loc)}: {msg}")
    return "\n".join(lines)


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_config(
    text: str, *, source: str = "<string>", base_dir: Path | None = None
) -> CrowdsafeConfig:
    """Parse and validate YAML text; ``source`` names it in error messages."""
    try:
        # libyaml's loader where PyYAML has it: a city's config of thousands of cameras
        # took 8 ms a camera in the pure-Python one; the node tree, for line numbers, is
        # composed only for an error message
        data: Any = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        raise ConfigError(f"{source}: the config is empty; it needs at least a 'cameras' list")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the config must be a mapping of keys, got {type(data).__name__}"
        )
    if "base_dir" in data:
        raise ConfigError(f"{source}: unknown key 'base_dir' under (top level)")
    data["base_dir"] = base_dir or Path(".")
    try:
        return CrowdsafeConfig.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text, Loader=_LOADER)
        raise ConfigError(_format_errors(exc, source, root, data)) from None


def load_config(path: str | Path) -> CrowdsafeConfig:
    """Read and validate a config file; relative paths in it are taken from its folder."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    return parse_config(text, source=str(p), base_dir=p.resolve().parent)


def findings_error(path: str | Path, findings: Sequence[tuple[Loc, str]]) -> ConfigError:
    """A ConfigError listing problems found in a loaded config file beyond its validation
    (``crowdsafe check``'s source checks), each at its key path's line, as above."""
    p = Path(path)
    try:
        root: yaml.Node | None = yaml.compose(p.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        root = None  # it loaded a moment ago; without it the findings still name their key
    lines = [f"config {p} does not match its sources:"]
    for loc, message in findings:
        line = _line_of(root, loc)
        where = f"{p}:{line}" if line is not None else str(p)
        lines.append(f"  {where}: {_loc_to_str(loc)}: {message}")
    return ConfigError("\n".join(lines))
