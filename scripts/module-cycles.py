#!/usr/bin/env python3
"""List import circles between the modules of src/engine (issue 19).

A module depends on another when its code (not its comments, not its `#[cfg(test)]` tests)
names it: `use crate::engine::x::..`, `use super::x::..`, `use x::..` for a child module, or
an inline path `crate::engine::x::..` / `super::x::..`. A name a `mod.rs` re-exports
(`pub use x::Name`) counts as a use of `x`, and those re-exports alone do not make the
parent depend on its children. Prints each strongly connected group of two or more modules
with the edges that close it; exits 1 when there is one (`make lint`), 0 when there is none.

    python3 scripts/module-cycles.py [--edges] [ROOT]   (ROOT defaults to src/engine)
"""

import os
import re
import sys


def strip(text):
    """The code without comments, string literals and `#[cfg(test)]` items."""
    lexeme = re.compile(
        r"//[^\n]*|/\*.*?\*/|(?<![\w])b?r(#*)\".*?\"\1|b?\"(?:\\.|[^\"\\])*\""
        r"|b?'(?:\\[^']+|[^'\\])'",
        re.S,
    )
    text = lexeme.sub(lambda m: " " if m.group(0)[0] == "/" else "''", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        j = m.end()
        brace, semi = text.find("{", j), text.find(";", j)
        if semi != -1 and (brace == -1 or semi < brace):
            i = semi + 1
            continue
        depth = 0
        for k in range(brace, len(text)):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                break
        i = k + 1
    out.append(text[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [[a, b], [a, c, d], [a, c, e]] (aliases and globs dropped)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    if "{" not in tree:
        return [[p for p in tree.split("::") if p and p not in ("*", "self")]]
    head, rest = tree.split("{", 1)
    body, depth, parts, cur = rest[: rest.rfind("}")], 0, [], ""
    for ch in body:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    prefix = [p for p in head.split("::") if p]
    return [prefix + e for part in parts if part for e in expand(part)]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else "src/engine"
    crate_prefix = ["crate"] + os.path.normpath(os.path.relpath(root, "src")).split(os.sep)

    modules = {}  # module path (tuple) -> stripped code
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            with open(os.path.join(dirpath, f)) as fh:
                modules[tuple(crate_prefix[1:] + parts)] = strip(fh.read())

    def absolute(mod, path):
        """A path as written in `mod`, from the crate root (None: outside the crate)."""
        if not path:
            return None
        if path[0] == "crate":
            return path[1:]
        if path[0] == "self":
            return list(mod) + path[1:]
        if path[0] == "super":
            base = list(mod)
            while path and path[0] == "super":
                base, path = base[:-1], path[1:]
            return base + path
        if tuple(mod) + (path[0],) in modules:  # a child module, 2018 style
            return list(mod) + path
        return None

    uses = {}  # module -> list of absolute paths it names
    reexports = {}  # (module, name) -> absolute path
    facade = {}  # module -> paths named only by its `pub use`
    for mod, code in modules.items():
        found, pub = [], []
        for m in re.finditer(r"\b(pub(?:\([\w:]+\))?\s+)?use\s+([^;]+);", code):
            for p in expand(m.group(2)):
                a = absolute(mod, p)
                if a is None:
                    continue
                if m.group(1):
                    reexports[(mod, a[-1])] = a
                    pub.append(a)
                else:
                    found.append(a)
        body = re.sub(r"\b(pub(?:\([\w:]+\))?\s+)?use\s+[^;]+;", "", code)
        for m in re.finditer(r"(?<![\w:])((?:crate|super|self|\w+)(?:::\w+)+)", body):
            a = absolute(mod, m.group(1).split("::"))
            if a is not None:
                found.append(a)
        uses[mod], facade[mod] = found, pub

    def target(path, seen=0):
        """The module that defines what `path` names."""
        best = None
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in modules:
                best = tuple(path[:n])
                break
        if best is None:
            return None
        rest = path[len(best) :]
        if rest and (best, rest[0]) in reexports and seen < 10:
            again = target(reexports[(best, rest[0])] + rest[1:], seen + 1)
            if again is not None:
                return again
        return best

    edges = {m: set() for m in modules}
    for mod, paths in uses.items():
        for p in paths:
            t = target(p)
            if t is not None and t != mod:
                edges[mod].add(t)

    # Tarjan's strongly connected components.
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)

    name = "::".join
    if "--edges" in sys.argv:
        for v in sorted(modules):
            print(name(v), "->", ", ".join(name(w) for w in sorted(edges[v])))
    if not sccs:
        print(f"module-cycles: no import circles among the {len(modules)} modules of {root}")
        return 0
    for comp in sccs:
        print("circle:", " <-> ".join(name(v) for v in comp))
        for v in comp:
            for w in sorted(edges[v] & set(comp)):
                print(f"    {name(v)} -> {name(w)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
