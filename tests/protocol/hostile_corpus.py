"""A generated corpus of malformed and hostile protocol and bench files.

Every case is a mutation of a shipped protocol (``protocols/*.toml``) or bench file
(``labctl/resources/benches/*.toml``) that must be refused: each numeric field set to NaN, ±inf,
1e308, 2**64, -1e9, a string or a boolean; fields that must not be vanishingly small set
to 1e-320; every key removed or misspelt; tables of the wrong type; huge strings, sweeps,
repeats and generators; deep nesting, non-UTF-8 bytes, binary junk, oversized files; bench
references to devices, FIFOs, directories, symlinks and missing files. Used by
``test_hostile_inputs.py`` and by ``benchmarks/bench_hostile_inputs.py`` (timing, memory).
"""

from __future__ import annotations

import json
import math
import os
import random
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = sorted((ROOT / "protocols").glob("*.toml"))
BENCHES = sorted((ROOT / "labctl" / "resources" / "benches").glob("*.toml"))
#: values no numeric field of either format accepts
BAD_VALUES: tuple[tuple[str, Any], ...] = (
    ("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("1e308", 1e308),
    ("2**64", 2**64), ("-1e9", -1e9), ("string", "1.0"), ("bool", True),
)
#: protocol fields with a physical floor far above 1e-320 (the campaign's silent no-ops)
TINY_FIELDS = ("record_rate", "eta", "learning.duration", "lambda.rho", "lambda.p",
               "lambda.target_error", "lambda.lam0", "lambda.update_rate", "sim.alpha",
               "sim.gamma", "init.kappa", "learning.window")


@dataclass
class Case:
    """One hostile input: ``kind`` is "protocol" or "bench"; ``content`` the file bytes,
    or ``make(directory) -> path`` for file-system cases (devices, links, FIFOs)."""

    name: str
    kind: str
    content: bytes | None = None
    make: Callable[[Path], Path] | None = field(default=None, repr=False)
    expect: str = ""

    def write(self, directory: Path) -> Path:
        """Create the case's file in ``directory``; returns its path."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.make is not None:
            return self.make(directory)
        path = directory / f"{self.name}.toml"
        path.write_bytes(self.content or b"")
        return path


# ------------------------------------------------------------------ a small TOML writer
def _key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump(doc: dict[str, Any]) -> str:
    """TOML text of ``doc`` (every value inline, one top-level key per line)."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in doc.items())


# ------------------------------------------------------------------ document surgery
def _leaves(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path, node


def _set(doc: Any, path: tuple, value: Any) -> Any:
    out = json.loads(json.dumps(doc, allow_nan=True))
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def _delete(doc: Any, path: tuple) -> Any:
    out = json.loads(json.dumps(doc, allow_nan=True))
    node = out
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    return out


def _rename(doc: Any, path: tuple, new: str) -> Any:
    out = json.loads(json.dumps(doc, allow_nan=True))
    node = out
    for k in path[:-1]:
        node = node[k]
    node[new] = node.pop(path[-1])
    return out


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path if not isinstance(p, int))


def _load(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _typo(key: str) -> str:
    return key[:-2] + key[-1] if len(key) > 3 else key + "x"


# ------------------------------------------------------------------ the corpus
def value_mutations(kind: str, base: Path, per_file: int, rng: random.Random) -> list[Case]:
    """Numeric leaves of ``base`` set to each of :data:`BAD_VALUES` (a seeded sample of
    ``per_file`` of them)."""
    doc = _load(base)
    numeric = [(p, v) for p, v in _leaves(doc)
               if isinstance(v, int | float) and not isinstance(v, bool)]
    cases = [Case(f"{kind}-{base.stem}-{'.'.join(map(str, p))}-{label}", kind,
                  dump(_set(doc, p, bad)).encode())
             for p, _ in numeric for label, bad in BAD_VALUES]
    rng.shuffle(cases)
    return sorted(cases[:per_file], key=lambda c: c.name)


def tiny_mutations(base: Path) -> list[Case]:
    """1e-320 in every field of :data:`TINY_FIELDS` that ``base`` has."""
    doc = _load(base)
    out = []
    seen: set[str] = set()
    for p, v in _leaves(doc):
        if isinstance(v, bool) or not isinstance(v, int | float) or _dotted(p) in seen:
            continue  # one case per field: a swept field's values share one name
        seen.add(_dotted(p))
        if _dotted(p) in TINY_FIELDS:
            out.append(Case(f"protocol-{base.stem}-{_dotted(p)}-tiny", "protocol",
                            dump(_set(doc, p, 1e-320)).encode(), expect="1e-320"))
    return out


def key_mutations(kind: str, base: Path) -> list[Case]:
    """Every top-level and second-level key removed (if required) or misspelt."""
    doc = _load(base)
    out = []
    for k, v in doc.items():
        paths = [(k,)] + ([(k, k2) for k2 in v] if isinstance(v, dict) else [])
        for p in paths:
            out.append(Case(f"{kind}-{base.stem}-typo-{_dotted(p)}", kind,
                            dump(_rename(doc, p, _typo(str(p[-1])))).encode(),
                            expect="unknown key"))
    required = ("name", "eta", "task") if kind == "protocol" else (
        "name", "backend", "network", "daq", "serial", "limits")
    for k in required:
        if k in doc:
            out.append(Case(f"{kind}-{base.stem}-missing-{k}", kind,
                            dump(_delete(doc, (k,))).encode(), expect="missing"))
    for k, v in doc.items():
        if isinstance(v, dict | list):
            for label, bad in (("number", 3), ("string", "x")):
                out.append(Case(f"{kind}-{base.stem}-{k}-is-{label}", kind,
                                dump(_set(doc, (k,), bad)).encode()))
    return out


def _demo() -> dict[str, Any]:
    return _load(ROOT / "protocols" / "demo.toml")


def size_mutations() -> list[Case]:
    """Huge strings, repeats, sweeps and generators (within the 1 MiB file limit)."""
    demo = _demo()
    big = []
    for label, key, value in (("name-100k", "name", "n" * 100_000),
                              ("name-slash", "name", "../../etc/passwd"),
                              ("name-nul", "name", "a\u0000b"),
                              ("description-500k", "description", "d" * 500_000),
                              ("bench-4k", "bench", "b" * 5000),
                              ("repeats-10000", "repeats", 10_000),
                              ("repeats-2**40", "repeats", 2**40)):
        big.append(Case(f"protocol-demo-{label}", "protocol",
                        dump(_set(demo, (key,), value)).encode()))
    sweeps = (("lambda-num-10000-repeats-100", {"repeats": 100},
               ("lambda", "values"), {"start": 0.0, "stop": 0.05, "num": 10_000}),
              ("lambda-array-20000", {}, ("lambda", "values"), [0.01] * 20_000),
              ("kappa-num-10000x-repeats", {"repeats": 1000},
               ("init",), {"kappa": {"start": 5e-4, "stop": 3e-3, "num": 10_000}}),
              ("num-2**64", {}, ("lambda", "values"), {"start": 0, "stop": 0.05, "num": 2**64}))
    for label, top, path, value in sweeps:
        doc = _set(demo, path, value)
        for k, v in top.items():
            doc = _set(doc, (k,), v)
        big.append(Case(f"protocol-demo-{label}", "protocol", dump(doc).encode()))
    tradeoff = _load(ROOT / "protocols" / "lambda_tradeoff.toml")
    for label, count, repeats in (("count-100000", 100_000, 1), ("count-1000-rep-100", 1000,
                                                                  100)):
        doc = _set(_set(tradeoff, ("task", 0, "count"), count), ("repeats",), repeats)
        big.append(Case(f"protocol-tradeoff-{label}", "protocol", dump(doc).encode()))
    doc = _set(tradeoff, ("repeats",), 100)
    doc = _set(doc, ("lambda", "values"), {"start": 0.0, "stop": 0.05, "num": 100})
    doc = _set(doc, ("lambda", "assign"), "product")
    big.append(Case("protocol-tradeoff-repeats-100-sweep-100", "protocol", dump(doc).encode(),
                    expect="plan"))
    long_learning = _set(demo, ("learning", "duration"), 86400.0)
    big.append(Case("protocol-demo-days-of-bench", "protocol",
                    dump(_set(long_learning, ("repeats",), 100)).encode(), expect="plan"))
    many_tasks = _set(demo, ("task",), [demo["task"][0]] * 1001)
    big.append(Case("protocol-demo-1001-task-tables", "protocol", dump(many_tasks).encode()))
    many_keys = _set(demo, ("metadata",), {f"k{i}": i for i in range(5000)})
    big.append(Case("protocol-demo-metadata-5000-keys", "protocol", dump(many_keys).encode()))
    junk_keys = dict(demo) | {f"junk{i}": i for i in range(20_000)}
    big.append(Case("protocol-demo-20000-unknown-keys", "protocol", dump(junk_keys).encode()))
    return big


def byte_mutations(kind: str, base: Path, rng: random.Random) -> list[Case]:
    """Encoding, nesting, size and junk attacks on the bytes of ``base``."""
    text = base.read_bytes()
    n = f"{kind}-{base.stem}"
    return [
        Case(f"{n}-deep-array-100000", kind, text + b"\nx = " + b"[" * 100_000 + b"]" * 100_000,
             expect="nested"),
        Case(f"{n}-deep-inline-40", kind, text + b"\nx = " + b"{a=" * 40 + b"1" + b"}" * 40,
             expect="nested"),
        Case(f"{n}-deep-unclosed", kind, b"x = " + b"[" * 500_000, expect="nested"),
        Case(f"{n}-not-utf8", kind, text.replace(b"=", b"= \xff", 1), expect="UTF-8"),
        Case(f"{n}-latin1", kind, text + "\n# température\n".encode("latin-1"),
             expect="UTF-8"),
        Case(f"{n}-utf16", kind, text.decode().encode("utf-16"), expect="UTF-8"),
        Case(f"{n}-binary-junk", kind, bytes(rng.randrange(256) for _ in range(4096))),
        Case(f"{n}-nul-bytes", kind, b"\x00" * 10_000),
        Case(f"{n}-empty", kind, b""),
        Case(f"{n}-oversized-2MiB", kind, text + b"\n#" + b"x" * (2 << 20), expect="bytes"),
        Case(f"{n}-truncated", kind, text[: len(text) // 2]),
        Case(f"{n}-huge-integer", kind, text + b"\nzz = " + b"9" * 5000),
        Case(f"{n}-bom", kind, b"\xef\xbb\xbf" + text),
    ]


def bench_ref_cases() -> list[Case]:
    """Protocols whose ``bench`` names something that is not a bounded regular file."""
    demo = _demo()

    def ref(target: Callable[[Path], str]) -> Callable[[Path], Path]:
        def make(directory: Path) -> Path:
            path = directory / "protocol.toml"
            path.write_text(dump(_set(demo, ("bench",), target(directory))))
            return path
        return make

    def fifo(d: Path) -> str:
        os.mkfifo(d / "bench.fifo")
        return "bench.fifo"

    def link_to(target: str) -> Callable[[Path], str]:
        def make(d: Path) -> str:
            (d / "bench.toml").symlink_to(target)
            return "bench.toml"
        return make

    def big_bench(d: Path) -> str:
        (d / "big.toml").write_bytes(b"#" * (3 << 20))
        return "big.toml"

    def sparse_bench(d: Path) -> str:
        with open(d / "sparse.toml", "wb") as fh:
            fh.truncate(1 << 33)  # 8 GiB of holes: refused from stat, never read
        return "sparse.toml"

    targets: dict[str, Callable[[Path], str]] = {
        "dev-zero": lambda d: "/dev/zero",
        "dev-urandom": lambda d: "/dev/urandom",
        "dev-null": lambda d: "/dev/null",
        "proc-self-mem": lambda d: "/proc/self/mem",
        "directory": lambda d: ".",
        "root": lambda d: "/",
        "missing": lambda d: "no/such/bench.toml",
        "nul-in-path": lambda d: "bench\u0000.toml",
        "fifo": fifo,
        "symlink-to-dev-zero": link_to("/dev/zero"),
        "symlink-to-directory": link_to("/tmp"),
        "symlink-loop": lambda d: (d / "loop.toml").symlink_to(d / "loop.toml") or "loop.toml",
        "dangling-symlink": link_to("/nonexistent/bench.toml"),
        "oversized-bench": big_bench,
        "sparse-8GiB-bench": sparse_bench,
        "protocol-as-bench": lambda d: str(ROOT / "protocols" / "demo.toml"),
    }
    return [Case(f"protocol-bench-ref-{label}", "protocol", make=ref(t), expect="bench")
            for label, t in targets.items()]


def protocol_file_cases() -> list[Case]:
    """The protocol path itself is not a regular file."""
    def at(target: str | None, kind: str) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            p = d / "protocol.toml"
            if kind == "link":
                p.symlink_to(target)
            elif kind == "dir":
                p.mkdir()
            elif kind == "fifo":
                os.mkfifo(p)
            return p
        return make
    return [Case("protocol-path-symlink-dev-zero", "protocol", make=at("/dev/zero", "link")),
            Case("protocol-path-directory", "protocol", make=at(None, "dir")),
            Case("protocol-path-fifo", "protocol", make=at(None, "fifo")),
            Case("protocol-path-missing", "protocol", make=lambda d: d / "missing.toml")]


def corpus(seed: int = 11) -> list[Case]:
    """The whole corpus (deterministic for a given ``seed``)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for base in PROTOCOLS:
        cases += value_mutations("protocol", base, 32, rng)
        cases += tiny_mutations(base)
        cases += key_mutations("protocol", base)
        cases += byte_mutations("protocol", base, rng) if base.stem == "demo" else []
    for base in BENCHES:
        cases += value_mutations("bench", base, 40, rng)
        cases += key_mutations("bench", base)
        cases += byte_mutations("bench", base, rng)
    cases += size_mutations() + bench_ref_cases() + protocol_file_cases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
