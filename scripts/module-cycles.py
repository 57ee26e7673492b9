#!/usr/bin/env python3
"""Lists the `crate::` imports between the modules of each crate and fails on a cycle.

A module is a file under `<crate>/src` (`a/b.rs` and `a/b/mod.rs` are `a::b`). An edge
`m -> n` is any `crate::n…` path in `m` (in `use` lists too; `super::` is left out: inside a
file it names the file's own module in its `mod tests`), with re-exports (`pub use`)
followed to the module that defines the name. The crate root (`lib.rs`) only composes: a
module that reaches an item defined in the root makes an edge to `(root)`; with
`--strict-root` that counts as a cycle (the root declares every module), so the crates
checked that way keep their root a pure composition.

Usage: scripts/module-cycles.py [--edges] [--strict-root] CRATE_DIR...
"""
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def modules(src):
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            name = "::".join(rel)
            out["(root)" if name in ("lib", "main") else name] = os.path.join(dirpath, f)
    return out


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = tree.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", tree, re.S)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [prefix + q for p in parts if p.strip() for q in expand(p.strip())]


def paths(text, me):
    """Every crate-absolute path this module mentions, as segment lists."""
    found = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        for p in expand(re.sub(r"\s+", "", m.group(1))):
            p = re.sub(r"\bas\w+$", "", p.split(" as ")[0])
            segs = p.split("::")
            if segs[0] == "crate":
                found.append(segs[1:])
            elif segs[0] == "self":
                found.append((me.split("::") if me != "(root)" else []) + segs[1:])
    rest = re.sub(r"\buse\s+[^;]+;", "", text)
    for m in re.finditer(r"\bcrate((?:::" + IDENT + r")+)", rest):
        found.append(m.group(1).split("::")[1:])
    return [[s for s in p if s and s != "*"] for p in found]


def main():
    args = sys.argv[1:]
    show = "--edges" in args
    strict = "--strict-root" in args
    crates = [a for a in args if not a.startswith("--")]
    bad = False
    for crate in crates:
        mods = modules(os.path.join(crate, "src"))
        texts = {m: strip(open(f).read()) for m, f in mods.items()}
        # (module, name) -> module the name resolves to, from `pub use`.
        reexports = {}
        for m, t in texts.items():
            for u in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", t):
                for p in expand(re.sub(r"\s+", "", u.group(1))):
                    segs = p.split(" as ")[0].split("::")
                    name = segs[-1]
                    if segs[0] == "crate":
                        segs = segs[1:]
                    elif segs[0] == "self":
                        segs = (m.split("::") if m != "(root)" else []) + segs[1:]
                    else:
                        segs = (m.split("::") if m != "(root)" else []) + segs
                    reexports[(m, name)] = segs

        def resolve(segs, depth=0):
            for n in range(len(segs), 0, -1):
                cand = "::".join(segs[:n])
                if cand in mods:
                    rest = segs[n:]
                    if rest and (cand, rest[0]) in reexports and depth < 8:
                        return resolve(reexports[(cand, rest[0])] + rest[1:], depth + 1)
                    return cand
            if segs and ("(root)", segs[0]) in reexports and depth < 8:
                return resolve(reexports[("(root)", segs[0])] + segs[1:], depth + 1)
            return "(root)"

        edges = {m: set() for m in mods}
        for m, t in texts.items():
            for p in paths(t, m):
                if not p:
                    continue
                target = resolve(p)
                if target != m and not (m != "(root)" and target == "(root)" and p[0] in mods):
                    edges[m].add(target)
        # A parent module declaring its children is not an import.
        for m in list(edges):
            edges[m] = {n for n in edges[m] if not (m == "(root)" or n.startswith(m + "::") and m != "(root)")}
        if show:
            print(f"== {crate}")
            for m in sorted(edges):
                if edges[m]:
                    print(f"  {m} -> {', '.join(sorted(edges[m]))}")
        # Cycles (Tarjan's SCC).
        index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

        def strong(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in edges.get(v, ()):
                if w not in index:
                    strong(w)
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
        for v in edges:
            if v not in index:
                strong(v)
        to_root = sorted(m for m in edges if strict and "(root)" in edges[m] and m != "(root)")
        for comp in sccs:
            bad = True
            print(f"{crate}: import cycle: {' <-> '.join(comp)}")
        for m in to_root:
            bad = True
            print(f"{crate}: {m} imports an item defined in the crate root")
        if not sccs and not to_root:
            n = sum(len(e) for e in edges.values())
            print(f"{crate}: {len(mods)} modules, {n} import edges, no cycles")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
