#!/usr/bin/env python3
"""The layout rules the build holds (`make layout`, part of `make check`; ARCHITECTURE.md):

1. no file-level import cycles in the Rust code: a file that uses a name defined in another
   file imports that file, except a module using what an enclosing module defines (Rust's
   nesting: `super::` from `live/views.rs` into `live/mod.rs`); a `pub use` only publishes
   names, and a name re-exported by a `mod.rs`/`lib.rs` is followed to the file that defines
   it, so a module's face does not make a circle of its own;
2. no `tch`, `torch_sys` or `ffmpeg_next` paths in pipeline code (crates/engine/src/pipeline/):
   libtorch belongs to `sr`, FFmpeg to `media`;
3. no source file over 500 lines outside tests (tests/ folders and `tests.rs` files);
4. the engine's layers: `frame`/`nvidia` < `sr`, `media` (which never import each other) <
   `pipeline` < `live`; a module imports only from its own layer or below;
5. no source folder with more than 15 files (a folder that grows past it is two ideas).

Prints every breach with its files and exits 1; prints a one-line summary and exits 0 otherwise.
Functions over 80 lines are clippy's `too_many_lines` (Cargo.toml, clippy.toml)."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 500
MAX_FOLDER_FILES = 15
# crate name as written in paths -> the folder of its source, its root file
CRATES = {
    "stronglive_wire": ROOT / "crates/wire/src",
    "stronglive_engine": ROOT / "crates/engine/src",
    "stronglive_studio": ROOT / "crates/studio/src",
    "stronglive": ROOT / "src",
}
PIPELINE = ROOT / "crates/engine/src/pipeline"
FORBIDDEN_IN_PIPELINE = re.compile(r"\b(tch|torch_sys|ffmpeg_next)::")
ENGINE = ROOT / "crates/engine/src"
# the engine's top-level modules by layer (lib.rs, the crate's face, is above them all)
ENGINE_LAYERS = {"frame": 0, "nvidia": 0, "sr": 1, "media": 1, "pipeline": 2, "live": 3}


def is_test_file(path: Path) -> bool:
    return "tests" in path.relative_to(ROOT).parts or path.name == "tests.rs"


TEST_CFG = re.compile(r"#\[cfg\((all\()?test\b.*\)\]$")


def production_text(path: Path) -> str:
    """The file without comments and without its `#[cfg(test)]` modules (tests may import
    anything; the rules are about the product's code)."""
    text = path.read_text()
    text = re.sub(r"//[^\n]*", "", text)
    out, depth, skipping = [], 0, False
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not skipping and TEST_CFG.match(line.strip()) and i + 1 < len(lines) and re.match(
            r"\s*(pub(\(\w+\))?\s+)?mod \w+\s*\{", lines[i + 1]
        ):
            skipping, depth = True, 0
            i += 1
            continue
        if skipping:
            depth += line.count("{") - line.count("}")
            if depth <= 0 and "}" in line:
                skipping = False
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def crate_of(path: Path):
    for name, src in CRATES.items():
        if src in path.parents:
            return name, src
    return None, None


def module_path(path: Path, src: Path) -> list:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def module_file(src: Path, parts: list):
    if not parts:
        for root in ("lib.rs", "main.rs"):
            if (src / root).exists():
                return src / root
        return None
    base = src.joinpath(*parts)
    for candidate in (base.with_suffix(".rs"), base / "mod.rs"):
        if candidate.exists():
            return candidate
    return None


def expand_use_tree(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (aliases dropped)."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [re.sub(r"as\w+$", "", tree.split(" as ")[0])]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(inner[start:k])
            start = k + 1
    items.append(inner[start:])
    paths = []
    for item in filter(None, items):
        for sub in expand_use_tree(item):
            paths.append(prefix + sub if sub != "self" else prefix.rstrip(":"))
    return paths


USE = re.compile(r"\b(?:pub(?:\([\w:]+\))?\s+)?use\s+([^;]+);", re.S)
INLINE = re.compile(r"\b(crate|super|stronglive_wire|stronglive_engine|stronglive_studio)((?:::\w+)+)")


class Resolver:
    def __init__(self):
        self.reexports = {}  # file -> {name: absolute segments}

    def absolute(self, segs: list, crate: str, here: list):
        """Path segments as written in `crate`'s module `here` -> (crate, absolute segments)."""
        if segs[0] == "crate":
            return crate, segs[1:]
        if segs[0] in CRATES and segs[0] != "stronglive":
            return segs[0], segs[1:]
        if segs[0] in ("super", "self"):
            base = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            return crate, base + segs
        if module_file(CRATES[crate], here + segs[:1]) is not None:
            # 2018 paths: a bare name that is a child module of this one
            return crate, here + segs
        return None, None

    def reexports_of(self, path: Path) -> dict:
        if path not in self.reexports:
            self.reexports[path] = {}
            crate, src = crate_of(path)
            here = module_path(path, src)
            for m in USE.finditer(production_text(path)):
                if not m.group(0).lstrip().startswith("pub"):
                    continue
                for p in expand_use_tree(m.group(1)):
                    segs = [s for s in p.split("::") if s]
                    target = self.absolute(segs, crate, here)
                    if target[0] and segs[-1] != "*":
                        self.reexports[path][segs[-1]] = target
        return self.reexports[path]

    def resolve(self, crate: str, segs: list, depth: int = 0):
        """The file that defines what `crate::segs` names (following re-exports)."""
        src = CRATES[crate]
        found, k = None, 0
        for n in range(len(segs), -1, -1):
            f = module_file(src, segs[:n])
            if f is not None:
                found, k = f, n
                break
        if found is None:
            return None
        rest = segs[k:]
        if rest and depth < 8:
            target = self.reexports_of(found).get(rest[0])
            if target:
                deeper = self.resolve(target[0], target[1] + rest[1:], depth + 1)
                if deeper is not None:
                    return deeper
        return found


def rust_files():
    for src in CRATES.values():
        yield from sorted(p for p in src.rglob("*.rs"))


def encloses(outer: Path, inner: Path) -> bool:
    """`outer` is the file of a module that `inner`'s module is nested in (its `mod.rs`, a
    `NAME.rs` beside the folder `NAME/`, or the crate root): using what an enclosing module
    defines is Rust's nesting, not an import between peers."""
    if outer.name in ("mod.rs", "lib.rs", "main.rs"):
        return outer.parent in inner.parents
    return outer.with_suffix("") in inner.parents


def import_graph():
    resolver, graph = Resolver(), {}
    for path in rust_files():
        crate, src = crate_of(path)
        here = module_path(path, src)
        text = production_text(path)
        paths = []
        for m in USE.finditer(text):
            # `pub use` publishes a name, it does not use it: followed when resolving, not an
            # import of its own (a module's face re-exporting its children is no circle)
            if not m.group(0).lstrip().startswith("pub"):
                paths += expand_use_tree(m.group(1))
        for m in INLINE.finditer(USE.sub("", text)):
            paths.append(m.group(1) + m.group(2))
        edges = set()
        for p in paths:
            segs = [s for s in p.split("::") if s and s != "*"]
            if not segs:
                continue
            target_crate, absolute = resolver.absolute(segs, crate, here)
            if target_crate is None:
                continue
            target = resolver.resolve(target_crate, absolute)
            if target is not None and target != path and not encloses(target, path):
                edges.add(target)
        graph[path] = edges
    return graph


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def engine_module(path: Path):
    if ENGINE not in path.parents:
        return None
    top = path.relative_to(ENGINE).parts[0].removesuffix(".rs")
    return top if top in ENGINE_LAYERS else None


def layer_breaches(graph: dict) -> list:
    """Imports that run up the engine's layers, or between `sr` and `media`."""
    out = []
    for source, targets in graph.items():
        low = engine_module(source)
        for target in targets:
            high = engine_module(target)
            if low is None or high is None or low == high:
                continue
            if ENGINE_LAYERS[high] >= ENGINE_LAYERS[low]:
                out.append(
                    f"{source.relative_to(ROOT)} -> {target.relative_to(ROOT)}: `{low}` may not "
                    f"import `{high}` (engine layers: frame/nvidia < sr, media < pipeline < live)"
                )
    return out


def main() -> int:
    problems = []
    graph = import_graph()
    problems += layer_breaches(graph)
    for component in cycles(graph):
        names = [str(p.relative_to(ROOT)) for p in component]
        ties = [
            f"{a.relative_to(ROOT)} -> {b.relative_to(ROOT)}"
            for a in component
            for b in graph[a]
            if b in component
        ]
        problems.append(f"import cycle between {', '.join(names)}: " + "; ".join(ties))
    for path in sorted(PIPELINE.rglob("*.rs")):
        for n, line in enumerate(production_text(path).split("\n"), 1):
            if FORBIDDEN_IN_PIPELINE.search(line):
                problems.append(
                    f"{path.relative_to(ROOT)}:{n}: pipeline code names libtorch or FFmpeg "
                    f"(use sr/ or media/): {line.strip()}"
                )
    files = list(rust_files())
    for path in files:
        lines = path.read_text().count("\n")
        if lines > MAX_FILE_LINES and not is_test_file(path):
            problems.append(
                f"{path.relative_to(ROOT)}: {lines} lines, over the {MAX_FILE_LINES}-line budget"
            )
    folders = {}
    for path in files:
        folders.setdefault(path.parent, []).append(path)
    for folder, members in sorted(folders.items()):
        if len(members) > MAX_FOLDER_FILES:
            problems.append(
                f"{folder.relative_to(ROOT)}/: {len(members)} source files, over the "
                f"{MAX_FOLDER_FILES}-file budget (split it by idea)"
            )
    for p in problems:
        print(f"layout: {p}")
    if problems:
        print(f"layout: {len(problems)} problem(s)")
        return 1
    edges = sum(len(e) for e in graph.values())
    print(
        f"layout: ok ({len(files)} files, {edges} file imports, no cycles, "
        f"engine layers kept, pipeline free of tch/ffmpeg_next, no file over {MAX_FILE_LINES} "
        f"lines, no folder over {MAX_FOLDER_FILES} files)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
