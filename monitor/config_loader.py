"""Builds frozen settings dataclasses from TOML data and ``LIQMON_*`` variables, strictly.

Every key is checked against the dataclass field it fills: an unknown key, a
wrong type or a bad value raises :class:`~monitor.errors.ConfigError` naming
the dotted key (``detectors.cascade.floor_usd``) and what is expected.

Environment overrides use ``LIQMON_`` plus the dotted path upper-cased with
``__`` between levels, e.g. ``LIQMON_BUS__REDIS_URL`` or
``LIQMON_VENUES__BINANCE__SYMBOLS=BTCUSDT,ETHUSDT`` (lists are comma
separated). Fields of type :class:`Secret` cannot be written in the TOML file:
they come from their environment variable or from ``<name>_file``.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from monitor.errors import ConfigError
from monitor.redact import mask_headers, mask_url

ENV_PREFIX = "LIQMON_"
RESERVED_ENV = frozenset({"LIQMON_CONFIG"})

T = TypeVar("T")


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs; read it with :meth:`get`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """The secret value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _FromEnv(str):
    """A raw string that came from the environment and must be parsed into the field's type."""

    __slots__ = ("var",)
    var: str


def require_positive(obj: object, *names: str, prefix: str = "") -> None:
    """The one positive-number check of settings: ValueError naming ``prefix.name`` and the value."""
    for name in names:
        value = getattr(obj, name)
        if not value > 0:  # NaN fails too
            where = f"{prefix}.{name}" if prefix else name
            raise ValueError(f"{where} must be positive, got {value!r}")


def env_var_for(path: str) -> str:
    """The environment variable that overrides a dotted key."""
    return ENV_PREFIX + path.replace(".", "__").upper()


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, _FromEnv) and value.lower() in ("", "none", "null")):
            if type(None) in get_args(tp):
                return None
            raise ConfigError(f"{path}: a value is required")
        errors = []
        for arg in args:
            try:
                return _convert(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path}: must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value
    if tp is Secret:
        if isinstance(value, Secret):
            return value
        raise ConfigError(
            f"{path} is a secret and cannot be written in the configuration file; "
            f"set {env_var_for(path)} or {path}_file (a path to a file holding it)"
        )
    if tp is bool:
        if isinstance(value, _FromEnv):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, _FromEnv):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                raise ConfigError(f"{path}: expected an integer, got {str(value)!r} from {value.var}") from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, _FromEnv):
            try:
                return float(value.replace("_", ""))
            except ValueError:
                raise ConfigError(f"{path}: expected a number, got {str(value)!r} from {value.var}") from None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if origin is tuple:
        item_tp = get_args(tp)[0]
        if isinstance(value, _FromEnv):
            items: list[Any] = []
            for part in value.split(","):
                if part.strip():
                    raw = _FromEnv(part.strip())
                    raw.var = value.var
                    items.append(raw)
            value = items
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return tuple(_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _, val_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return {str(k): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return build(tp, value, path)
    raise ConfigError(f"{path}: unsupported setting type {tp!r}")  # a bug in a settings class


def build(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Construct dataclass ``cls`` from ``data``; unknown keys and bad values raise ConfigError."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    secret_files = {f"{name}_file": name for name in fields if _is_secret(hints[name])}
    kwargs: dict[str, Any] = {}
    prefix = f"{path}." if path else ""
    for key, value in data.items():
        if key in secret_files:
            name = secret_files[key]
            if isinstance(value, str):
                kwargs[name] = _read_secret_file(value, f"{prefix}{key}")
                continue
            raise ConfigError(f"{prefix}{key}: expected a file path, got {value!r}")
        if key not in fields:
            known = ", ".join(sorted(list(fields) + list(secret_files)))
            raise ConfigError(f"{prefix}{key}: unknown setting (known here: {known})")
        if key in kwargs:  # the secret already came from its file
            continue
        kwargs[key] = _convert(hints[key], value, f"{prefix}{key}")
    try:
        obj = cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{path or 'settings'}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path or 'settings'}: {exc}") from None
    return obj


def _is_secret(tp: Any) -> bool:
    return tp is Secret or (get_origin(tp) in (Union, types.UnionType) and Secret in get_args(tp))


def _read_secret_file(file: str, path: str) -> Secret:
    try:
        return Secret(Path(file).read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read secret file {file}: {exc.strerror or exc}") from None


def apply_env(cls: type[Any], data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``LIQMON_*`` override written in at its dotted path."""
    merged: dict[str, Any] = _deep_copy(data)
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or var in RESERVED_ENV:
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        target_tp = _resolve_path(cls, parts, var)
        raw = environ[var]
        value: Any
        if target_tp is Secret or _is_secret(target_tp):
            value = Secret(raw)
        else:
            value = _FromEnv(raw)
            value.var = var
        node = merged
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return merged


def _resolve_path(cls: Any, parts: list[str], var: str) -> Any:
    tp: Any = cls
    for i, part in enumerate(parts):
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
            origin = get_origin(tp)
        if origin is dict:
            tp = get_args(tp)[1]
            continue
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            raise ConfigError(f"{var}: {'.'.join(parts[:i])} has no sub-keys")
        hints = get_type_hints(tp)
        if part not in hints:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(f"{var}: unknown setting {part!r} under {where}")
        tp = hints[part]
    return tp


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def render(obj: Any) -> str:
    """The settings as TOML for ``liqmon check-config``, nothing secret shown.

    Secret fields are masked whole; in other strings, credentials inside URLs
    (``user:password@``, ``?token=``) are masked, and so are the values of
    credential-named entries of ``headers`` tables (``Authorization``, ``X-Api-Key``).
    """
    lines: list[str] = []
    _render_table(obj, [], lines)
    return "\n".join(lines).strip() + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, Secret):
        return '"********"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        shown = mask_url(value) if "://" in value else value
        return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return repr(value)


def _render_table(obj: Any, path: list[str], lines: list[str]) -> None:
    items = obj if isinstance(obj, Mapping) else {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if path and path[-1] == "headers":
        items = mask_headers(items)
    tables = []
    if path:
        lines.append(f"\n[{'.'.join(path)}]")
    for name, value in items.items():
        if dataclasses.is_dataclass(value) or isinstance(value, Mapping):
            tables.append((name, value))
        elif value is None:
            lines.append(f"# {name} = (not set)")
        else:
            lines.append(f"{name} = {_scalar(value)}")
    for name, value in tables:
        _render_table(value, [*path, str(name)], lines)


__all__ = ["ENV_PREFIX", "Secret", "apply_env", "build", "env_var_for", "render"]
