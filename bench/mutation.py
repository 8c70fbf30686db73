"""Sampled mutation testing of one module against the tests that should guard it.

    python bench/mutation.py qsdaqec/train/fitting.py --tests tests/train --sample 30
    python bench/mutation.py qsdaqec/runner/records.py --tests tests/runner/test_records.py

mutmut-style operators, applied one at a time through the AST: comparison flipped (``<`` to
``<=``, ``==`` to ``!=``, ``in`` to ``not in``, ...), arithmetic swapped (``+``/``-``, ``*``/``/``),
``and``/``or`` swapped, ``not`` dropped, ``True``/``False`` flipped, a number changed (``n`` to
``n + 1``, ``x`` to ``2 x``), a call statement deleted (``opt.step()`` becomes ``pass``), a return
value replaced by ``None``, ``+=`` turned into ``-=``. Docstrings, annotations, ``__all__`` and
string constants are left alone.

Every mutant is written into a scratch copy of the repository (``--work``; the checkout is never
touched) and the tests run there with ``-x``: a failing, erroring or timed-out run kills the
mutant, a passing run lets it survive. The sample is seeded (``--seed``); ``--lines`` re-checks
the sites on given lines (the survivors of an earlier run). Results go to
``.benchmarks/mutation/<module>-seed<N>.json`` with every survivor's line and change, for a reader to
judge which survivors are equivalent (bench/mutation.md).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_COMPARE = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
    ast.GtE: ast.Gt, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}  # fmt: skip
_BINOP = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}  # fmt: skip


@dataclass
class Site:
    index: int
    line: int
    change: str


@dataclass
class Outcome:
    line: int
    change: str
    status: str  # killed | survived | timeout
    seconds: float


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, ``__all__``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                skip.update(id(n) for n in ast.walk(body[0]))
        for ann in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if ann is not None:
                skip.update(id(n) for n in ast.walk(ann))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _mutations(node: ast.AST) -> list[tuple[str, object]]:
    """(description, replacement spec) for each way ``node`` can be mutated."""
    out: list[tuple[str, object]] = []
    if isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE:
        new = _COMPARE[type(node.ops[0])]
        out.append((f"{type(node.ops[0]).__name__} -> {new.__name__}", ("cmp", new)))
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
        new = _BINOP[type(node.op)]
        out.append((f"{type(node.op).__name__} -> {new.__name__}", ("binop", new)))
    elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
        out.append(("+= <-> -=", ("aug", ast.Sub if isinstance(node.op, ast.Add) else ast.Add)))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f"{type(node.op).__name__} -> {new.__name__}", ("bool", new)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("not dropped", ("unnot", None)))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        out.append((f"{node.value} -> {not node.value}", ("const", not node.value)))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        new = node.value + 1 if isinstance(node.value, int) else node.value * 2 or 1.0
        out.append((f"{node.value!r} -> {new!r}", ("const", new)))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        out.append(("call statement deleted", ("pass", None)))
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            out.append(("return value -> None", ("retnone", None)))
    return out


def find_sites(source: str) -> list[Site]:
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    sites: list[Site] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        for change, _ in _mutations(node):
            sites.append(Site(len(sites), getattr(node, "lineno", 0), change))
    return sites


def mutate(source: str, index: int) -> str:
    """The module's source with mutation ``index`` (of ``find_sites``) applied."""
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    count = 0
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        for _, (kind, new) in _mutations(node):
            if count == index:
                _apply(tree, node, kind, new)
                return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
            count += 1
    raise IndexError(index)


def _apply(tree: ast.Module, node: ast.AST, kind: str, new: object) -> None:
    if kind == "cmp":
        node.ops = [new(), *node.ops[1:]]
    elif kind in ("binop", "aug", "bool"):
        node.op = new()
    elif kind == "const":
        node.value = new
    elif kind == "retnone":
        node.value = ast.Constant(None)
    elif kind in ("unnot", "pass"):
        replacement = copy.copy(node.operand) if kind == "unnot" else ast.Pass()
        _replace(tree, node, replacement)


def _replace(tree: ast.Module, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, ast.copy_location(new, old))
                return
            if isinstance(value, list) and any(v is old for v in value):
                value[[v is old for v in value].index(True)] = ast.copy_location(new, old)
                return


def _run_tests(work: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(work)}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0
    status = "survived" if proc.returncode == 0 else "killed"
    return status, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module", help="source file to mutate, relative to the repository root")
    ap.add_argument("--tests", nargs="+", required=True, help="pytest arguments (paths, -k ...)")
    ap.add_argument("--sample", type=int, default=30, help="mutants to try (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lines", default="", help="only the sites on these lines (e.g. 90,104)")
    ap.add_argument("--work", default="/tmp/qsdaqec-mutation", help="scratch repository copy")
    args = ap.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    ignore = shutil.ignore_patterns(".git", "runs", ".benchmarks", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT, work, ignore=ignore)
    target = work / args.module
    original = target.read_text()
    sites = find_sites(original)
    if args.lines:
        wanted = {int(n) for n in args.lines.split(",")}
        chosen = [s for s in sites if s.line in wanted]
    elif args.sample:
        chosen = random.Random(args.seed).sample(sites, min(args.sample, len(sites)))
    else:
        chosen = sites

    status, base = _run_tests(work, args.tests, timeout=3600)
    if status != "survived":
        sys.exit(f"the tests fail without any mutation ({status}); fix them first")
    print(f"{args.module}: {len(sites)} mutation sites, trying {len(chosen)}; "
          f"unmutated tests {base:.0f}s", flush=True)  # fmt: skip
    outcomes: list[Outcome] = []
    try:
        for site in sorted(chosen, key=lambda s: s.index):
            target.write_text(mutate(original, site.index))
            status, secs = _run_tests(work, args.tests, timeout=3 * base + 30)
            outcomes.append(Outcome(site.line, site.change, status, round(secs, 1)))
            print(f"  line {site.line:4d}  {site.change:28s} {status} ({secs:.0f}s)", flush=True)
    finally:
        target.write_text(original)
    killed = sum(o.status != "survived" for o in outcomes)
    summary = {
        "module": args.module, "tests": args.tests, "sites": len(sites), "tried": len(outcomes),
        "killed": killed, "kill_rate": round(killed / max(len(outcomes), 1), 3),
        "seed": args.seed, "outcomes": [asdict(o) for o in outcomes],
    }  # fmt: skip
    name = Path(args.module).stem + (f"-lines-{args.lines}" if args.lines else f"-seed{args.seed}")
    out = ROOT / ".benchmarks" / "mutation" / (name + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"killed {killed}/{len(outcomes)} ({summary['kill_rate']:.0%}) -> {out}")


if __name__ == "__main__":
    main()
