#!/usr/bin/env python3
"""The layering rules of docs/architecture.md, checked on the sources' includes and on built binaries.

Each layer may include only its own headers and those of the layers below it:

    engine    graph/
    nodes     nodes/                 engine
    io        io/                    engine, nodes
    datasets  host/datasets/         engine, nodes, io
    training  host/training/, host/metrics/, host/evaluation, host/progress_bar
                                     engine, nodes, io, datasets
    cli       the rest of host/      every layer
    plugin    plugins/               engine, nodes, io (no datasets, training or CLI)
    python    python/                engine, nodes, io (no datasets, training or CLI); but
                                     python/cli_module.cpp, the commands for avgraph.train and
                                     avgraph.evaluate, is of the cli layer (a module of its own)
    examples  node_library: engine; embed: engine, nodes, io

A binary given with --binary must define none of the functions that the static libraries given with
--forbidden define (the datasets and training layers for the plugin): were one linked in, its symbol
would be there. Exits 1 listing every breach.
"""
import argparse
import pathlib
import re
import subprocess
import sys

LAYERS = ["engine", "nodes", "io", "datasets", "training", "cli"]
BELOW = {layer: set(LAYERS[: i + 1]) for i, layer in enumerate(LAYERS)}
ALLOWED = dict(BELOW)
ALLOWED["plugin"] = {"engine", "nodes", "io", "plugin"}
ALLOWED["python"] = {"engine", "nodes", "io", "python"}
ALLOWED["example.node_library"] = {"engine"}
ALLOWED["example.embed"] = {"engine", "nodes", "io"}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def layer_of(path: str):
    """The layer of a path relative to the source root, or None for what no rule covers."""
    for prefix, layer in [
        ("graph/", "engine"),
        ("nodes/", "nodes"),
        ("io/", "io"),
        ("host/datasets/", "datasets"),
        ("host/training/", "training"),
        ("host/metrics/", "training"),
        ("host/evaluation.", "training"),
        ("host/progress_bar.", "training"),
        ("host/", "cli"),
        ("plugins/", "plugin"),
        ("python/cli_module.", "cli"),  # avgraph.train and evaluate: the commands themselves
        ("python/", "python"),
        ("examples/node_library/", "example.node_library"),
        ("examples/embed/", "example.embed"),
    ]:
        if path.startswith(prefix):
            return layer
    return None


def include_breaches(root: pathlib.Path):
    breaches = []
    for top in ["graph", "nodes", "io", "host", "plugins", "python", "examples"]:
        for file in sorted((root / top).rglob("*")):
            if file.suffix not in {".h", ".hpp", ".cpp", ".mm"}:
                continue
            rel = file.relative_to(root).as_posix()
            layer = layer_of(rel)
            if layer is None:
                continue
            text = file.read_text(errors="replace")
            for m in INCLUDE.finditer(text):
                target = m.group(1)
                target_layer = layer_of(target)
                if target_layer is None or target_layer in ALLOWED[layer]:
                    continue
                line = text.count("\n", 0, m.start()) + 1
                breaches.append(f'{rel}:{line}: the {layer} layer includes "{target}" of the {target_layer} layer '
                                f"(it may include {', '.join(sorted(ALLOWED[layer] - {layer})) or 'nothing else'})")
    return breaches


def defined_functions(binary: pathlib.Path, strong_only: bool):
    """The C++ functions a binary or archive defines, demangled (nm: text symbols)."""
    out = subprocess.run(["nm", "--defined-only", "--demangle", str(binary)], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) != 3:
            continue
        kind, name = parts[1], parts[2]
        # T: a function defined in this object; W/V/u are inline or template instances that any user of
        # a header may define, so they say nothing about which library was linked.
        if kind == "T" or (not strong_only and kind in {"t"}):
            names.add(name)
    return names


def binary_breaches(binaries, forbidden):
    breaches = []
    for lib in forbidden:
        theirs = defined_functions(lib, strong_only=True)
        if not theirs:
            breaches.append(f"{lib}: defines no functions; the check would prove nothing")
            continue
        for binary in binaries:
            common = sorted(theirs & defined_functions(binary, strong_only=False))
            for name in common[:5]:
                breaches.append(f"{binary}: defines {name}, a function of {lib.name}")
            if len(common) > 5:
                breaches.append(f"{binary}: and {len(common) - 5} more functions of {lib.name}")
    return breaches


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=pathlib.Path, required=True, help="the source root")
    ap.add_argument("--binary", type=pathlib.Path, action="append", default=[],
                    help="a built binary that must hold nothing of --forbidden (repeatable)")
    ap.add_argument("--forbidden", type=pathlib.Path, action="append", default=[],
                    help="a static library none of whose functions may be in --binary (repeatable)")
    args = ap.parse_args()
    breaches = include_breaches(args.source) + binary_breaches(args.binary, args.forbidden)
    for b in breaches:
        print(b)
    if breaches:
        print(f"layering: {len(breaches)} breach(es) of docs/architecture.md's rules")
        return 1
    print("layering: every include follows the layers")
    for binary in args.binary:
        print(f"layering: {binary} holds no function of {', '.join(f.name for f in args.forbidden)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
