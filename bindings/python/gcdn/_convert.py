"""Checking and converting Python arguments for the C ABI (shared by the client and the job)."""

from __future__ import annotations

import math
import operator
from ctypes import c_char_p

from ._errors import InvalidArgumentError

TYPE_CHECKING = False  # typing is imported by type checkers only: `import gcdn` stays quick
if TYPE_CHECKING:
    from typing import Any, List, Tuple

__all__ = ["type_name", "text", "millis", "resource_id", "flag", "uint32", "string_list", "string_array"]

_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_UINT32_MAX = (1 << 32) - 1


def type_name(value: object) -> str:
    return type(value).__name__


def text(value: object, name: str) -> bytes:
    """A ``str`` argument as NUL-terminated UTF-8 (never quoting the value: it may be the key)."""
    if not isinstance(value, str):
        raise TypeError("{} must be a str, not {}".format(name, type_name(value)))
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError("{} is not valid Unicode text".format(name)) from None
    if b"\0" in data:
        raise InvalidArgumentError("{} contains a NUL character".format(name))
    return data


def millis(seconds: object, name: str) -> int:
    """Seconds (int or float, >= 0) as whole milliseconds; a positive value is at least 1 ms."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("{} must be a number of seconds, not {}".format(name, type_name(seconds)))
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgumentError("{} must be a finite number of seconds >= 0".format(name))
    ms = int(round(seconds * 1000))
    if ms > _UINT64_MAX:
        raise InvalidArgumentError("{} is too large".format(name))
    return 1 if ms == 0 and seconds > 0 else ms


def resource_id(resource_id: object) -> int:
    if isinstance(resource_id, bool):
        raise TypeError("resource_id must be an int, not bool")
    try:
        value = operator.index(resource_id)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError("resource_id must be an int, not {}".format(type_name(resource_id))) from None
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise InvalidArgumentError("resource_id {} is out of range".format(value))
    return value  # <= 0 is refused by the library, with its own message


def flag(value: object, name: str) -> bool:
    """A ``bool`` argument (an int or a str is refused: ``verify="no"`` must not mean yes)."""
    if not isinstance(value, bool):
        raise TypeError("{} must be a bool, not {}".format(name, type_name(value)))
    return value


def uint32(value: object, name: str) -> int:
    """An ``int`` argument that fits a ``uint32_t`` (0 is passed on: the library may refuse it
    with its own message)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("{} must be an int, not {}".format(name, type_name(value)))
    if not 0 <= value <= _UINT32_MAX:
        raise InvalidArgumentError("{} must be from 1 to {}, not {}".format(name, _UINT32_MAX, value))
    return value


def string_list(items: object, name: str, noun: str) -> List[bytes]:
    """Any iterable of str (not a bare str) as a list of NUL-free UTF-8 strings."""
    if isinstance(items, (str, bytes, bytearray, memoryview)):
        raise TypeError(
            "{} must be an iterable of str, not a bare {}; wrap it in a list".format(
                name, type_name(items)
            )
        )
    try:
        iterator = iter(items)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError("{} must be an iterable of str, not {}".format(name, type_name(items))) from None
    encoded: List[bytes] = []
    append = encoded.append
    for i, item in enumerate(iterator):
        if not isinstance(item, str):
            raise TypeError("{} {} must be a str, not {}".format(noun, i, type_name(item)))
        try:
            data = item.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgumentError("{} {} is not valid Unicode text".format(noun, i)) from None
        if b"\0" in data:
            raise InvalidArgumentError("{} {} contains a NUL character".format(noun, i))
        append(data)
    return encoded


def string_array(items: object, name: str, noun: str) -> Tuple[Any, int]:
    """Any iterable of str as a ``const char *[]`` (each item encoded to UTF-8 once) and its length."""
    encoded = string_list(items, name, noun)
    n = len(encoded)
    if n == 0:
        return None, 0  # the library refuses an empty list with its own message
    return (c_char_p * n)(*encoded), n
