"""Every ctypes prototype in gcdn/_lib.py against include/gcdn.h: argument and return types.

ctypes trusts what it is told: a prototype that disagrees with the C signature (a parameter
added, a width changed, a handle where a string belongs) corrupts memory instead of failing.
So the header's declarations are parsed here (a small parser for the regular shape cbindgen
writes: prototypes, opaque and field structs, typedefs, function pointers) and each one is
checked against the ``argtypes``/``restype`` the wrapper set on the loaded library.

How C types map to what the wrapper must use:

==============================  ===========================================================
``void`` (return)               ``None``
``int32_t``, ``uint64_t``, ...  ``c_int32``, ``c_uint64``, ... (``size_t``: ``c_size_t``)
``const char *``                ``c_char_p`` (a string the library only reads, or a static)
``char *``                      ``c_void_p``: a string whose ownership moves (freed with
                                ``gcdn_string_free``), so ctypes must not copy it
``char **``                     ``POINTER(c_void_p)`` (``error_out``, same reason)
``const char *const *``         ``POINTER(c_char_p)`` (a list of strings the library reads)
``[const] struct gcdn_x *``     ``_lib.HANDLES["gcdn_x"]`` for an opaque type
``T *`` otherwise               ``POINTER(<T's type>)``
``struct gcdn_x`` (fields)      a ``ctypes.Structure`` named ``gcdn_x`` with the same fields
``R (*)(A, B)``                 ``CFUNCTYPE(<R>, <A>, <B>)``
==============================  ===========================================================
"""

import ctypes
import dataclasses
import inspect
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

from conftest import REPO

from gcdn import _lib

HEADER = os.path.join(REPO, "include", "gcdn.h")

SCALARS = {
    "int8_t": ctypes.c_int8,
    "int16_t": ctypes.c_int16,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "uint8_t": ctypes.c_uint8,
    "uint16_t": ctypes.c_uint16,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "intptr_t": ctypes.c_ssize_t,
    "uintptr_t": ctypes.c_size_t,
    "int": ctypes.c_int,
    "unsigned int": ctypes.c_uint,
    "bool": ctypes.c_bool,
    "double": ctypes.c_double,
    "float": ctypes.c_float,
}

# A parsed C type: ("name", "int32_t") | ("struct", "gcdn_client") | ("ptr", inner, const)
# | ("fn", return type, [parameter types]). `const` on a name is kept in the ptr above it.
CType = Tuple[Any, ...]


class Header:
    """The declarations of a cbindgen-made C header, seen by a C (not C++) compiler."""

    def __init__(self, text: str) -> None:
        self.functions: Dict[str, Tuple[CType, List[CType]]] = {}
        self.opaque: set = set()
        self.structs: Dict[str, List[Tuple[str, CType]]] = {}
        self.typedefs: Dict[str, CType] = {}
        for decl in _declarations(_c_only(text)):
            self._add(decl)

    def _add(self, decl: str) -> None:
        m = re.fullmatch(r"typedef struct (\w+) (\w+)", decl)
        if m and m.group(1) == m.group(2):
            self.opaque.add(m.group(1))
            return
        m = re.fullmatch(r"typedef struct (\w+) \{(.*)\} (\w+)", decl, re.S)
        if m and m.group(1) == m.group(3):
            fields = [_declarator(f) for f in m.group(2).split(";") if f.strip()]
            self.structs[m.group(1)] = [(name or "", t) for t, name in fields]
            return
        if re.fullmatch(r"(typedef )?enum \w+ \{.*\}( \w+)?", decl, re.S):
            return  # the values are #defines' business; the type is a typedef of an integer
        if decl.startswith("typedef "):
            t, name = _declarator(decl[len("typedef "):])
            assert name, decl
            self.typedefs[name] = t
            return
        t, name = _declarator(decl)
        assert name and t[0] == "fn", "not understood: " + decl
        self.functions[name] = (t[1], t[2])


def _c_only(text: str) -> str:
    """The header as a C compiler sees it: no comments, no C++-only blocks, no directives."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"#ifdef __cplusplus\n.*?#endif", " ", text, flags=re.S)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    return text


def _declarations(text: str) -> List[str]:
    """The top-level declarations, split at the semicolons outside braces."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ";" and depth == 0:
            decl = " ".join(text[start:i].split())
            if decl:
                out.append(decl)
            start = i + 1
    assert not " ".join(text[start:].split()), "text after the last declaration"
    return out


def _split_top(text: str, sep: str = ",") -> List[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _closing(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError("unbalanced parentheses: " + text)


def _params(text: str) -> List[CType]:
    if text.strip() == "void":
        return []
    return [_declarator(p)[0] for p in _split_top(text)]


def _declarator(text: str) -> Tuple[CType, Optional[str]]:
    """`const char *const *urls` -> (type, "urls"); `R (*name)(A)` and `R name(A)` too."""
    text = " ".join(text.replace("*", " * ").split())
    if "(" in text:
        first = text.index("(")
        inner_end = _closing(text, first)
        after = text[inner_end + 1:].strip()
        if after.startswith("("):
            # R (*name)(params): a pointer to a function.
            ret = _type(text[:first])
            inner = text[first + 1:inner_end].split()
            assert inner[0] == "*", text
            name = inner[1] if len(inner) > 1 else None
            params = after[1:_closing(after, 0)]
            return ("ptr", ("fn", ret, _params(params)), False), name
        # R name(params): a function.
        words = text[:first].split()
        return ("fn", _type(" ".join(words[:-1])), _params(text[first + 1:inner_end])), words[-1]
    words = text.split()
    # The last word is the parameter's name unless it is part of the type.
    if len(words) > 1 and words[-1] not in ("*", "const") and not (
        words[-2] in ("struct", "unsigned") or " ".join(words) in SCALARS
    ):
        return _type(" ".join(words[:-1])), words[-1]
    return _type(text), None


def _type(text: str) -> CType:
    words = text.split()
    assert words, "empty type"
    if words[-1] == "*":
        return ("ptr", _type(" ".join(words[:-1])), False)
    if words[-1] == "const":
        inner = _type(" ".join(words[:-1]))
        return inner
    if words[0] == "const":
        return ("const", _type(" ".join(words[1:])))
    if words[0] == "struct":
        assert len(words) == 2, text
        return ("struct", words[1])
    return ("name", " ".join(words))


def _pointee(t: CType) -> Tuple[CType, bool]:
    """What a ("ptr", ...) points to, and whether that is const."""
    inner = t[1]
    if inner[0] == "const":
        return inner[1], True
    return inner, False


class Checker:
    def __init__(self, header: Header) -> None:
        self.header = header

    def resolve(self, t: CType) -> CType:
        if t[0] == "const":
            return self.resolve(t[1])
        if t[0] == "name" and t[1] in self.header.opaque | set(self.header.structs):
            return ("struct", t[1])
        if t[0] == "name" and t[1] in self.header.typedefs:
            return self.resolve(self.header.typedefs[t[1]])
        return t

    def check(self, t: CType, actual: Any, where: str) -> None:
        t = self.resolve(t)
        kind = t[0]
        if kind == "name":
            if t[1] == "void":
                assert actual is None, "{}: void, but ctypes has {!r}".format(where, actual)
                return
            assert t[1] in SCALARS, "{}: no ctypes type known for C {!r}".format(where, t[1])
            assert actual is SCALARS[t[1]], "{}: C {} is {}, ctypes has {!r}".format(
                where, t[1], SCALARS[t[1]].__name__, actual
            )
        elif kind == "struct":
            fields = self.header.structs.get(t[1])
            assert fields is not None, "{}: opaque struct {} passed by value".format(where, t[1])
            assert isinstance(actual, type) and issubclass(actual, ctypes.Structure), (
                "{}: struct {} needs a ctypes.Structure, got {!r}".format(where, t[1], actual)
            )
            assert actual.__name__ == t[1], "{}: struct {} is {!r}".format(where, t[1], actual)
            got = getattr(actual, "_fields_", [])
            assert [f[0] for f in got] == [n for n, _ in fields], "{}: fields".format(where)
            for (name, ft), (_, fa) in zip(fields, got):
                self.check(ft, fa, "{}.{}".format(where, name))
        elif kind == "ptr":
            self.check_pointer(t, actual, where)
        else:
            raise AssertionError("{}: cannot check {!r}".format(where, t))

    def check_pointer(self, t: CType, actual: Any, where: str) -> None:
        inner, const = _pointee(t)
        inner = self.resolve(inner)
        if inner == ("name", "char"):
            want = ctypes.c_char_p if const else ctypes.c_void_p
            assert actual is want, "{}: C {}char * must be {} (got {!r})".format(
                where, "const " if const else "", want.__name__, actual
            )
        elif inner == ("name", "void"):
            assert actual is ctypes.c_void_p, "{}: void * is c_void_p, got {!r}".format(where, actual)
        elif inner[0] == "struct" and inner[1] in self.header.opaque:
            handles = getattr(_lib, "HANDLES", {})
            assert inner[1] in handles, "{}: declare the handle type {} in _lib.HANDLES".format(
                where, inner[1]
            )
            assert actual is handles[inner[1]], "{}: {} * is _lib.HANDLES[{!r}], got {!r}".format(
                where, inner[1], inner[1], actual
            )
        elif inner[0] == "fn":
            assert isinstance(actual, type) and issubclass(actual, ctypes._CFuncPtr), (
                "{}: a function pointer needs a CFUNCTYPE, got {!r}".format(where, actual)
            )
            assert actual._flags_ & ctypes._FUNCFLAG_CDECL, "{}: not cdecl".format(where)
            self.check(inner[1], actual._restype_, where + " (callback return)")
            params = inner[2]
            args = list(actual._argtypes_ or ())
            assert len(args) == len(params), "{}: callback takes {} arguments, ctypes {}".format(
                where, len(params), len(args)
            )
            for n, (p, a) in enumerate(zip(params, args)):
                self.check(p, a, "{} (callback argument {})".format(where, n))
        else:
            assert isinstance(actual, type) and issubclass(actual, ctypes._Pointer), (
                "{}: a pointer needs POINTER(...), got {!r}".format(where, actual)
            )
            self.check(inner, actual._type_, where + " (pointee)")

    def check_function(self, name: str, fn: Any) -> None:
        ret, params = self.header.functions[name]
        assert fn.argtypes is not None, name + ": argtypes not set"
        args = list(fn.argtypes)
        assert len(args) == len(params), "{}: {} parameters in gcdn.h, {} in _lib.py".format(
            name, len(params), len(args)
        )
        self.check(ret, fn.restype, name + " return")
        for n, (p, a) in enumerate(zip(params, args)):
            self.check(p, a, "{} argument {}".format(name, n))


def load_header(text: Optional[str] = None) -> Header:
    if text is None:
        with open(HEADER) as f:
            text = f.read()
    return Header(text)


def test_every_prototype_matches_the_header():
    header = load_header()
    assert len(header.functions) >= 25, sorted(header.functions)
    assert set(header.functions) == {name for name, _, _ in _lib._PROTOTYPES}
    checker = Checker(header)
    for name in sorted(header.functions):
        checker.check_function(name, getattr(_lib.LIB, name))


class Fn:
    """Stands for a ctypes function: its restype and argtypes."""

    def __init__(self, restype: Any, argtypes: List[Any]) -> None:
        self.restype, self.argtypes = restype, argtypes


def test_the_parser_reads_the_headers_shapes():
    header = load_header(
        """
        #ifndef X_H
        #define X_H
        #include <stdint.h>
        #define GCDN_A (1u << 0)
        #ifdef __cplusplus
        extern "C" {
        #endif
        /** An opaque handle. */
        typedef struct gcdn_client gcdn_client;
        typedef struct gcdn_s { int64_t id; const char *name; uint32_t n; } gcdn_s;
        enum gcdn_k { GCDN_K_A = 0, GCDN_K_B = 1, };
        typedef int32_t gcdn_k;
        typedef void (*gcdn_cb)(const struct gcdn_s *event, void *user_data);
        int32_t gcdn_f(const gcdn_client *client,
                       const char *const *items,
                       size_t n_items,
                       struct gcdn_client **out,
                       char **error_out);
        void gcdn_g(gcdn_cb cb, void *user, gcdn_k kind, struct gcdn_s s, uint64_t *count);
        const char *gcdn_v(void);
        #ifdef __cplusplus
        }  /* extern "C" */
        #endif
        #endif
        """
    )
    assert header.opaque == {"gcdn_client"}
    assert set(header.functions) == {"gcdn_f", "gcdn_g", "gcdn_v"}
    assert header.functions["gcdn_v"] == (("ptr", ("const", ("name", "char")), False), [])
    ret, params = header.functions["gcdn_f"]
    assert ret == ("name", "int32_t") and len(params) == 5
    assert params[1] == ("ptr", ("ptr", ("const", ("name", "char")), False), False)
    assert params[3] == ("ptr", ("ptr", ("struct", "gcdn_client"), False), False)
    assert [n for n, _ in header.structs["gcdn_s"]] == ["id", "name", "n"]
    assert header.typedefs["gcdn_k"] == ("name", "int32_t")

    class gcdn_s(ctypes.Structure):
        _fields_ = [("id", ctypes.c_int64), ("name", ctypes.c_char_p), ("n", ctypes.c_uint32)]

    P = ctypes.POINTER
    handle = _lib.HANDLES["gcdn_client"]
    good_f = [handle, P(ctypes.c_char_p), ctypes.c_size_t, P(handle), P(ctypes.c_void_p)]
    cb = ctypes.CFUNCTYPE(None, P(gcdn_s), ctypes.c_void_p)
    good_g = [cb, ctypes.c_void_p, ctypes.c_int32, gcdn_s, P(ctypes.c_uint64)]
    checker = Checker(header)
    checker.check_function("gcdn_f", Fn(ctypes.c_int32, good_f))
    checker.check_function("gcdn_g", Fn(None, good_g))
    checker.check_function("gcdn_v", Fn(ctypes.c_char_p, []))

    # Each of these mistakes is caught.
    wrong = [
        ("gcdn_f", Fn(ctypes.c_int64, good_f)),  # return width
        ("gcdn_f", Fn(ctypes.c_int32, good_f[:-1])),  # a parameter missing
        ("gcdn_f", Fn(ctypes.c_int32, good_f + [ctypes.c_int32])),  # one too many
        ("gcdn_f", Fn(ctypes.c_int32, [ctypes.c_char_p] + good_f[1:])),  # a string for a handle
        ("gcdn_f", Fn(ctypes.c_int32, good_f[:1] + [ctypes.c_char_p] + good_f[2:])),  # a list
        ("gcdn_f", Fn(ctypes.c_int32, good_f[:2] + [ctypes.c_uint32] + good_f[3:])),  # size_t
        ("gcdn_f", Fn(ctypes.c_int32, good_f[:3] + [handle] + good_f[4:])),  # out-param
        ("gcdn_f", Fn(ctypes.c_int32, good_f[:4] + [P(ctypes.c_char_p)])),  # error_out copied
        ("gcdn_g", Fn(None, [ctypes.CFUNCTYPE(None, ctypes.c_void_p)] + good_g[1:])),
        ("gcdn_g", Fn(None, [ctypes.CFUNCTYPE(ctypes.c_int32, P(gcdn_s), ctypes.c_void_p)] + good_g[1:])),
        ("gcdn_g", Fn(None, [ctypes.c_void_p] + good_g[1:])),  # a callback as a void *
        ("gcdn_g", Fn(None, good_g[:2] + [ctypes.c_int64] + good_g[3:])),  # enum width
        ("gcdn_g", Fn(None, good_g[:3] + [P(gcdn_s)] + good_g[4:])),  # by value, not pointer
        ("gcdn_g", Fn(None, good_g[:4] + [P(ctypes.c_int64)])),  # pointee signedness
        ("gcdn_g", Fn(ctypes.c_int32, good_g)),  # void return
        ("gcdn_v", Fn(ctypes.c_void_p, [])),
        ("gcdn_v", Fn(None, [])),
    ]
    for n, (name, fn) in enumerate(wrong):
        with pytest.raises(AssertionError):
            checker.check_function(name, fn)
            print("mistake", n, "not caught")

    class gcdn_s(ctypes.Structure):  # noqa: F811 (a field of the wrong width)
        _fields_ = [("id", ctypes.c_int32), ("name", ctypes.c_char_p), ("n", ctypes.c_uint32)]

    with pytest.raises(AssertionError, match="gcdn_g argument 3.id"):
        checker.check_function("gcdn_g", Fn(None, good_g[:3] + [gcdn_s] + good_g[4:]))


def test_a_changed_prototype_fails():
    """The real header with one parameter widened: the real wrapper no longer matches."""
    with open(HEADER) as f:
        text = f.read()
    changed = text.replace("uint32_t max_retries,", "uint64_t max_retries,")
    assert changed != text
    checker = Checker(load_header(changed))
    with pytest.raises(AssertionError, match="gcdn_options_set_max_retries argument 1"):
        checker.check_function("gcdn_options_set_max_retries", _lib.LIB.gcdn_options_set_max_retries)
    added = text.replace("int32_t gcdn_purge_all(const struct gcdn_client *client,",
                         "int32_t gcdn_purge_all(const struct gcdn_client *client, uint32_t flags,")
    assert added != text
    with pytest.raises(AssertionError, match="parameters"):
        Checker(load_header(added)).check_function("gcdn_purge_all", _lib.LIB.gcdn_purge_all)


# -- the constant tables ------------------------------------------------------------------------


def header_constants(text: Optional[str] = None) -> Dict[str, int]:
    """Every ``#define GCDN_X <number>`` (or ``(1u << n)``) of the header."""
    if text is None:
        with open(HEADER) as f:
            text = f.read()
    values = {}
    for name, number, shift in re.findall(r"^#define (GCDN_\w+) \(?(\d+)u?(?: << (\d+))?\)?$", text, re.M):
        values[name] = int(number) << int(shift or 0)
    return values


def family(constants: Dict[str, int], prefix: str, leave_out: Tuple[str, ...] = ()) -> Dict[str, int]:
    """The constants ``GCDN_<prefix>_*`` by their suffix, less ``leave_out``."""
    start = "GCDN_" + prefix + "_"
    found = {n[len(start):]: v for n, v in constants.items() if n.startswith(start)}
    assert found, "no {}* constant in gcdn.h".format(start)
    return {n: v for n, v in found.items() if n not in leave_out}


# The Python names that are not the constant's suffix in lower case.
WAIT_NAMES = {"RATE_LIMITED": "429", "RETRY_AFTER": "retry-after"}


def python_tables(constants: Dict[str, int]) -> List[Tuple[str, Dict[int, str], Dict[int, str]]]:
    """(what, the table gcdn.h implies, the table _lib.py has), for each table of _lib.py."""
    def expect(prefix: str, leave_out: Tuple[str, ...] = (), names: Optional[Dict[str, str]] = None) -> Dict[int, str]:
        return {v: (names or {}).get(n, n.lower()) for n, v in family(constants, prefix, leave_out).items()}

    return [
        ("EVENT_KINDS", expect("EVENT", ("TICK",)), _lib.EVENT_KINDS),
        ("PURGE_KINDS", expect("KIND"), _lib.PURGE_KINDS),
        ("WAIT_REASONS", expect("WAIT", ("NONE",), WAIT_NAMES), _lib.WAIT_REASONS),
        ("COMPLETIONS", expect("COMPLETION", ("NONE",)), _lib.COMPLETIONS),
        ("TOTALS", expect("TOTAL"), dict(_lib.TOTALS)),
    ]


def test_every_constant_table_matches_the_header():
    """The numbers _lib.py turns into the Python API's names (event kinds, purge kinds, wait
    reasons, completions, totals) are gcdn.h's, all of them, each under its own name."""
    constants = header_constants()
    for what, expected, actual in python_tables(constants):
        assert actual == expected, "_lib.{} disagrees with gcdn.h".format(what)
    assert _lib.EVENT_TICK == constants["GCDN_EVENT_TICK"]
    # Totals are built from TOTALS by name: its fields are the table's names, in its order.
    from gcdn import _report

    assert [f.name for f in dataclasses.fields(_report.Totals)] == [n for _, n in _lib.TOTALS]


def field_doc(cls: type, name: str) -> str:
    """The ``#:`` comment lines just above ``name:`` in the class's source."""
    lines = inspect.getsource(cls).splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(name + ":"))
    doc = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#:"):
            break
        doc.append(line.strip()[2:])
    return " ".join(reversed(doc))


def undocumented(constants: Dict[str, int]) -> List[str]:
    """The names gcdn.h's constants imply that the docs of the report's and the events' fields
    do not list (outcomes and skip reasons have no table: they come as the report's JSON)."""
    from gcdn import _report

    documented = [
        (_report.RequestResult, "outcome", family(constants, "OUTCOME")),
        (_report.RequestResult, "kind", family(constants, "KIND")),
        (_report.RequestResult, "completion", family(constants, "COMPLETION", ("NONE",))),
        (_report.SkippedItem, "reason", family(constants, "SKIP")),
        (_report.VerifiedURL, "result", family(constants, "VERIFY")),
        (_report.PrefetchRequest, "outcome", family(constants, "OUTCOME", ("PLANNED",))),
        (_report.Event, "kind", family(constants, "EVENT", ("TICK",))),
        (_report.Event, "purge_kind", family(constants, "KIND")),
        (_report.Event, "why", family(constants, "WAIT", ("NONE",))),
        (_report.Event, "completion", family(constants, "COMPLETION", ("NONE",))),
    ]
    missing = []
    for cls, name, names in documented:
        doc = field_doc(cls, name)
        for suffix in names:
            word = '``"{}"``'.format(WAIT_NAMES.get(suffix, suffix.lower()) if name == "why" else suffix.lower())
            if word not in doc:
                missing.append("{}.{}: {}".format(cls.__name__, name, word))
    return missing


def test_every_name_is_documented():
    """Each outcome, skip reason, verification result, kind, wait reason and completion of
    gcdn.h is named in the docs of the field that carries it."""
    assert undocumented(header_constants()) == []


def test_a_new_constant_fails_the_table_check():
    """A constant added to the header (or renumbered) is caught, in each family."""
    with open(HEADER) as f:
        text = f.read()
    for added in ("#define GCDN_EVENT_LATER 9", "#define GCDN_TOTAL_LATER 16", "#define GCDN_WAIT_LATER 6",
                  "#define GCDN_KIND_LATER 4", "#define GCDN_COMPLETION_LATER 4"):
        tables = python_tables(header_constants(text + "\n" + added + "\n"))
        assert [what for what, expected, actual in tables if expected != actual] != [], added
    for added in ("#define GCDN_SKIP_LATER 6", "#define GCDN_OUTCOME_LATER 5", "#define GCDN_VERIFY_LATER 4"):
        assert undocumented(header_constants(text + "\n" + added + "\n")) != [], added
    renumbered = text.replace("#define GCDN_EVENT_SENT 1", "#define GCDN_EVENT_SENT 10")
    assert renumbered != text
    assert python_tables(header_constants(renumbered))[0][1] != _lib.EVENT_KINDS



def check_statuses(constants: Dict[str, int]) -> None:
    """Each status of gcdn.h (GCDN_OK, GCDN_ERR_*) has its number in gcdn._errors, and each
    error status its own exception class, exported by the package, that error_for picks."""
    import gcdn
    from gcdn import _errors

    statuses = {n[len("GCDN_"):]: v for n, v in constants.items() if n == "GCDN_OK" or n.startswith("GCDN_ERR_")}
    assert {n: v for n, v in vars(_errors).items() if n == "OK" or n.startswith("ERR_")} == statuses
    assert set(_errors._BY_STATUS) == {v for v in statuses.values() if v}
    classes = set()
    for name, value in statuses.items():
        if value == 0:
            continue
        cls = _errors._BY_STATUS[value]
        assert cls.default_status == value and cls not in classes, name
        classes.add(cls)
        assert type(_errors.error_for(value, "m")) is cls
        assert getattr(gcdn, cls.__name__) is cls and cls.__name__ in gcdn.__all__, cls
        assert cls.__name__ in _errors.__all__, cls


def test_every_status_has_its_exception():
    constants = header_constants()
    assert constants["GCDN_ERR_STALE"] == 12
    check_statuses(constants)


def test_a_new_status_fails_the_status_check():
    with open(HEADER) as f:
        text = f.read()
    with pytest.raises(AssertionError):
        check_statuses(header_constants(text + "\n#define GCDN_ERR_LATER 13\n"))
    renumbered = text.replace("#define GCDN_ERR_STALE 12", "#define GCDN_ERR_STALE 13")
    assert renumbered != text
    with pytest.raises(AssertionError):
        check_statuses(header_constants(renumbered))
