"""Bad input never crashes: a seeded generator of malformed profiles, suites and flags.

Every case goes through the real command line (``orchbench.cli.main``, in process; a few in
subprocesses) as ``orchbench run``, and must end with exit 2, one ``error:`` line naming the
file or the field at fault, no traceback, and nothing written (no output folder, no stray
file). The generator mutates one valid profile (and one valid suite) one defect at a time:
wrong types, out-of-range numbers, inf/nan, unknown fields, bad encodings, deep nesting,
bad names, bad ``extends``, missing required fields, bad routes, broken TOML.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from orchbench.cli import build_command, main

SEED = 13
TYPES = ["planning", "coding", "review", "testing", "documentation", "debugging"]

BASE_PROFILE: dict[str, Any] = {
    "name": "base",
    "description": "a valid profile the generator breaks one field at a time",
    "hardware": {
        "name": "test card",
        "kind": "gpu",
        "vram_gb": 24.0,
        "bandwidth_gbs": 1000.0,
        "ram_gb": 64.0,
        "cpu_cores": 8,
    },
    "backend": {"kind": "fake"},
    "server": {"num_parallel": 2, "max_queue": 512, "keep_alive": "5m", "context_length": 4096},
    "settings": {
        "max_concurrent_tasks": 4,
        "default_timeout": 60.0,
        "retry_attempts": 2,
        "quality_threshold": 0.5,
        "retry_backoff_s": 0.1,
        "cooldown_failures": 3,
        "cooldown_s": 5.0,
        "aging_s": 10.0,
    },
    "models": {
        "small": {
            "task_types": TYPES,
            "tier": "fast",
            "max_tokens": 256,
            "temperature": 0.2,
            "priority": 5,
            "concurrent_limit": 2,
            "prompt_style": "completion",
            "num_ctx": 2048,
            "context_length": 8192,
            "size_gb": 1.5,
            "params_b": 3.0,
            "n_layers": 24,
            "n_kv_heads": 4,
            "head_dim": 64,
        },
        "big": {
            "task_types": ["coding", "review"],
            "tier": "powerful",
            "concurrent_limit": 1,
            "prompt_style": "completion",
            "size_gb": 8.0,
        },
    },
    "routing": {
        "coding": {"primary": ["big"], "fallback": ["small"]},
        "review": {"primary": ["big", "small"]},
    },
}

BASE_SUITE: dict[str, Any] = {
    "name": "tiny",
    "description": "two completion tasks",
    "prompt_style": "completion",
    "defaults": {"type": "coding", "complexity": "simple", "max_tokens": 8},
    "tasks": [
        {"name": "add", "prompt": "def add(a, b):", "tests": "assert add(1, 2) == 3"},
        {"name": "rev", "prompt": "def rev(s):", "priority": 3, "stop": ["\ndef "]},
    ],
}

# Numeric fields: (path, a wrong type, values out of range)
PROFILE_NUMBERS: list[tuple[tuple[str, ...], list[Any]]] = [
    (("hardware", "vram_gb"), [-1.0, 1e308, 10**7]),
    (("hardware", "bandwidth_gbs"), [0.0, -5.0, 1e308]),
    (("hardware", "ram_gb"), [0.0, 1e300]),
    (("hardware", "cpu_cores"), [0, -3, 10**9]),
    (("server", "num_parallel"), [0, 65, 10**12]),
    (("server", "max_queue"), [0, 10**15]),
    (("server", "context_length"), [0, 2**40]),
    (("settings", "max_concurrent_tasks"), [0, 10**6]),
    (("settings", "default_timeout"), [0.0, -1.0, 1e308]),
    (("settings", "retry_attempts"), [0, 1000]),
    (("settings", "quality_threshold"), [-0.1, 1.5]),
    (("settings", "retry_backoff_s"), [-1.0, 1e308, 99999.0]),
    (("settings", "cooldown_failures"), [0, 10**8]),
    (("settings", "cooldown_s"), [-1.0, 1e12]),
    (("settings", "aging_s"), [0.0, 1e20]),
    (("settings", "seed"), [-1, 2**40]),
    (("models", "small", "max_tokens"), [0, 2**40]),
    (("models", "small", "temperature"), [-0.5, 9.0]),
    (("models", "small", "priority"), [0, 11]),
    (("models", "small", "concurrent_limit"), [0, 1000]),
    (("models", "small", "num_ctx"), [0, 1099511627776, 1_048_577, 8193]),
    (("models", "small", "context_length"), [0, 2**40]),
    (("models", "small", "size_gb"), [-1.0, 1e308]),
    (("models", "small", "params_b"), [0.0, 1e9]),
    (("models", "small", "n_layers"), [0, 10**6]),
    (("models", "small", "n_kv_heads"), [0, 10**6]),
    (("models", "small", "head_dim"), [0, 10**9]),
    (("models", "small", "n_threads"), [0, 10**4]),
    (("models", "small", "n_ctx"), [0, 2**30]),
]
FLOAT_FIELDS = [
    ("hardware", "vram_gb"),
    ("hardware", "bandwidth_gbs"),
    ("hardware", "ram_gb"),
    ("settings", "default_timeout"),
    ("settings", "quality_threshold"),
    ("settings", "retry_backoff_s"),
    ("settings", "cooldown_s"),
    ("settings", "aging_s"),
    ("models", "small", "temperature"),
    ("models", "small", "size_gb"),
    ("models", "small", "params_b"),
]
STRING_FIELDS = [
    ("name",),
    ("hardware", "name"),
    ("hardware", "kind"),
    ("backend", "kind"),
    ("models", "small", "tier"),
    ("models", "small", "prompt_style"),
    ("server", "kv_cache_type"),
    ("server", "keep_alive"),
]
REQUIRED = [
    ("hardware",),
    ("models",),
    ("hardware", "bandwidth_gbs"),
    ("hardware", "ram_gb"),
    ("hardware", "cpu_cores"),
    ("hardware", "name"),
    ("models", "small", "tier"),
    ("models", "small", "task_types"),
]
BAD_NAMES = [
    "../../../../tmp/x/TRAVERSED",
    "/tmp/absolute",
    "a/b",
    "..",
    ".",
    "back\\slash",
    "tab\there",
    "new\nline",
    "bell\x07",
    "del\x7f",
    "x" * 200,
    "",
]


@dataclass
class Case:
    """One malformed input: what to write, the command line, and what the error must name."""

    category: str
    label: str
    files: dict[str, bytes]
    args: list[str]
    names: list[str] = field(default_factory=list)
    """Strings of which the error line must contain at least one (file or field)."""


def _toml(data: dict[str, Any]) -> bytes:
    return tomli_w.dumps(data).encode()


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def _drop(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    node.pop(path[-1], None)
    return out


def _profile_case(category: str, label: str, body: bytes, names: list[str]) -> Case:
    return Case(category, label, {"p.toml": body}, ["--profile", "{p.toml}"], ["p.toml", *names])


def _wrong_types(rng: random.Random) -> list[Case]:
    wrong_for_number = ["4", [1, 2], {"a": 1}, True, "fast"]
    wrong_for_string = [5, 1.5, ["x"], {"a": "b"}, True]
    cases = []
    for path, _ in PROFILE_NUMBERS:
        value = rng.choice(wrong_for_number)
        body = _toml(_set(BASE_PROFILE, path, value))
        cases.append(_profile_case("wrong types", f"{'.'.join(path)}={value!r}", body, [path[-1]]))
    for path in STRING_FIELDS:
        value = rng.choice(wrong_for_string)
        body = _toml(_set(BASE_PROFILE, path, value))
        cases.append(_profile_case("wrong types", f"{'.'.join(path)}={value!r}", body, [path[-1]]))
    for path, value in [
        (("models", "small", "task_types"), "coding"),
        (("models", "small", "task_types"), ["cooking"]),
        (("models",), ["small"]),
        (("hardware",), "gpu"),
        (("settings",), 3),
        (("server", "flash_attention"), "yes"),
        (("settings", "escalate_on_low_quality"), 1),
        (("routing",), ["coding"]),
    ]:
        body = _toml(_set(BASE_PROFILE, path, value))
        cases.append(_profile_case("wrong types", f"{'.'.join(path)}={value!r}", body, [path[-1]]))
    return cases


def _out_of_range() -> list[Case]:
    cases = []
    for path, values in PROFILE_NUMBERS:
        for value in values:
            body = _toml(_set(BASE_PROFILE, path, value))
            label = f"{'.'.join(path)}={value!r}"
            cases.append(_profile_case("out-of-range numbers", label, body, [path[-1]]))
    return cases


def _inf_nan() -> list[Case]:
    cases = []
    for path in FLOAT_FIELDS:
        for literal in ("inf", "-inf", "nan", "+inf"):
            text = tomli_w.dumps(_set(BASE_PROFILE, path, 12345.678))
            body = text.replace("12345.678", literal).encode()
            cases.append(_profile_case("inf/nan", f"{'.'.join(path)}={literal}", body, [path[-1]]))
    return cases


def _unknown_fields(rng: random.Random) -> list[Case]:
    cases = []
    tables = [(), ("hardware",), ("settings",), ("server",), ("backend",), ("models", "small")]
    tables += [("routing", "coding")]
    for table in tables:
        for key in ("vram", "max_concurent_tasks", "colour", f"x{rng.randrange(10**6)}"):
            body = _toml(_set(BASE_PROFILE, (*table, key), 1))
            cases.append(_profile_case("unknown fields", f"{'.'.join((*table, key))}", body, [key]))
    body = _toml(_set(BASE_PROFILE, ("routing", "cooking"), {"primary": ["small"]}))
    cases.append(_profile_case("unknown fields", "routing.cooking", body, ["cooking"]))
    return cases


def _bad_encodings(rng: random.Random) -> list[Case]:
    text = tomli_w.dumps(_set(BASE_PROFILE, ("description",), "café naïve"))
    noise = bytes(rng.randrange(256) for _ in range(2048))
    bodies = {
        "latin-1": text.encode("latin-1"),
        "cp1252": text.encode("cp1252"),
        "utf-16": text.encode("utf-16"),
        "utf-16-le with BOM": b"\xff\xfe" + text.encode("utf-16-le"),
        "utf-16-be with BOM": b"\xfe\xff" + text.encode("utf-16-be"),
        "utf-16-le without BOM": text.encode("utf-16-le"),
        "utf-32": text.encode("utf-32"),
        "utf-8 with BOM": b"\xef\xbb\xbf" + text.encode(),
        "random bytes": noise,
        "NUL in the middle": text.encode()[:50] + b"\x00" + text.encode()[50:],
        "cut UTF-8 sequence": text.encode().replace("é".encode(), b"\xc3"),
        "overlong UTF-8": text.encode().replace(b"caf", b"caf\xc0\xaf"),
        "lone surrogate bytes": text.encode().replace(b"caf", b"caf\xed\xa0\x80"),
        "gzip magic": b"\x1f\x8b\x08\x00" + noise[:100],
        "png": b"\x89PNG\r\n\x1a\n" + noise[:100],
        "empty": b"",
    }
    return [_profile_case("bad encodings", label, body, []) for label, body in bodies.items()]


def _deep_nesting() -> list[Case]:
    cases = []
    for depth in (33, 100, 500, 1000, 5000, 20000):
        body = ("x = " + "[" * depth + "]" * depth + "\n").encode()
        cases.append(_profile_case("deep nesting", f"{depth} nested arrays", body, []))
        body = ("x = " + "{a = " * depth + "1" + "}" * depth + "\n").encode()
        cases.append(_profile_case("deep nesting", f"{depth} nested inline tables", body, []))
    base = tomli_w.dumps(BASE_PROFILE)
    for depth in (40, 3000):
        body = (base + "deep = " + "[" * depth + "1" + "]" * depth + "\n").encode()
        cases.append(_profile_case("deep nesting", f"valid profile + {depth} arrays", body, []))
    return cases


def _bad_names() -> list[Case]:
    cases = []
    for name in BAD_NAMES:
        body = _toml(_set(BASE_PROFILE, ("name",), name))
        cases.append(_profile_case("bad names", repr(name), body, ["name"]))
    return cases


def _bad_extends() -> list[Case]:
    cases = []
    child = {k: v for k, v in BASE_PROFILE.items() if k not in ("hardware",)}
    for label, value in [
        ("unknown name", "no-such-profile"),
        ("missing path", "missing/parent.toml"),
        ("empty", ""),
        ("a number", 5),
        ("a list", ["base"]),
        ("a table", {"name": "x"}),
    ]:
        body = _toml({**child, "extends": value})
        cases.append(_profile_case("bad extends", label, body, ["extends"]))
    cases.append(
        Case(
            "bad extends",
            "a cycle of two",
            {
                "p.toml": _toml({**child, "extends": "q.toml"}),
                "q.toml": _toml({"extends": "p.toml"}),
            },
            ["--profile", "{p.toml}"],
            ["extends"],
        )
    )
    cases.append(
        Case(
            "bad extends",
            "itself",
            {"p.toml": _toml({**child, "extends": "p.toml"})},
            ["--profile", "{p.toml}"],
            ["extends"],
        )
    )
    for length in (9, 12):
        files = {f"c{i}.toml": _toml({"extends": f"c{i + 1}.toml"}) for i in range(length)}
        files[f"c{length}.toml"] = _toml(BASE_PROFILE)
        cases.append(
            Case(
                "bad extends",
                f"a chain of {length}",
                files,
                ["--profile", "{c0.toml}"],
                ["extends"],
            )
        )
    files = {"p.toml": _toml({"extends": "q.toml"}), "q.toml": b"\xff\xfe\x00garbage"}
    cases.append(
        Case("bad extends", "a parent in UTF-16", files, ["--profile", "{p.toml}"], ["q.toml"])
    )
    return cases


def _missing_fields() -> list[Case]:
    cases = []
    for path in REQUIRED:
        body = _toml(_drop(_drop(BASE_PROFILE, ("routing",)), path))
        cases.append(_profile_case("missing required fields", ".".join(path), body, [path[-1]]))
    return cases


def _bad_routes() -> list[Case]:
    cases = []
    for label, route in [
        ("undefined primary", {"primary": ["ghost"]}),
        ("undefined fallback", {"primary": ["big"], "fallback": ["ghost"]}),
        ("empty primary", {"primary": []}),
        ("primary a string", {"primary": "big"}),
        ("model without the type", {"primary": ["small"], "fallback": ["big"]}),
        ("unknown complexity", {"primary": ["big"], "complexity": "extreme"}),
        ("route not a table", "big"),
    ]:
        task_type = "planning" if label == "model without the type" else "coding"
        body = _toml(_set(BASE_PROFILE, ("routing", task_type), route))
        cases.append(_profile_case("bad routes", label, body, ["routing"]))
    return cases


def _broken_toml() -> list[Case]:
    text = tomli_w.dumps(BASE_PROFILE)
    bodies = {
        "cut in half": text[: len(text) // 2] + '"',
        "duplicate table": text + "\n[settings]\nretry_attempts = 2\n",
        "unclosed string": 'name = "open\n' + text,
        "unclosed array": "x = [1, 2\n" + text,
        "bare key value": "just some words\n",
        "json instead": '{"name": "x"}',
    }
    return [
        _profile_case("broken TOML", label, body.encode(), []) for label, body in bodies.items()
    ]


def _suite_case(label: str, category: str, body: bytes, names: list[str]) -> Case:
    return Case(
        f"suite: {category}",
        label,
        {"s.toml": body, "p.toml": _toml(BASE_PROFILE)},
        ["--profile", "{p.toml}", "--suite", "{s.toml}"],
        ["s.toml", *names],
    )


def _suites(rng: random.Random) -> list[Case]:
    cases = []
    task_fields: list[tuple[str, list[Any]]] = [
        ("type", [5, "cooking", ["coding"]]),
        ("prompt", [7, "", ["x"]]),
        ("complexity", ["extreme", 3]),
        ("max_tokens", [0, -1, "many", 2**40]),
        ("priority", [0, 11, "high"]),
        ("contains", ["word", 5]),
        ("tests", [5, ["assert True"]]),
        ("stop", ["\n", 5]),
        ("prompt_style", ["poem", 1]),
        ("bogus_field", [1]),
    ]
    for key, values in task_fields:
        for value in values:
            data = copy.deepcopy(BASE_SUITE)
            data["tasks"][rng.randrange(2)][key] = value
            cases.append(_suite_case(f"task {key}={value!r}", "tasks", _toml(data), [key]))
    for key, value in [
        ("prompt_style", "poetry"),
        ("prompt_style", 3),
        ("repeat", 0),
        ("repeat", 10**9),
        ("tasks", []),
        ("tasks", "none"),
        ("defaults", {"colour": "red"}),
        ("defaults", 5),
        ("name", 5),
        ("whatever", 1),
    ]:
        data = _set(BASE_SUITE, (key,), value)
        cases.append(_suite_case(f"{key}={value!r}", "top level", _toml(data), [key]))
    for key in ("prompt_style", "tasks"):
        data = _drop(BASE_SUITE, (key,))
        cases.append(_suite_case(f"no {key}", "missing required fields", _toml(data), [key]))
    data = copy.deepcopy(BASE_SUITE)
    data["tasks"][1]["name"] = "add"
    cases.append(_suite_case("duplicate task names", "tasks", _toml(data), ["name"]))
    data = copy.deepcopy(BASE_SUITE)
    del data["tasks"][0]["prompt"]
    cases.append(
        _suite_case("task without a prompt", "missing required fields", _toml(data), ["prompt"])
    )
    text = tomli_w.dumps(_set(BASE_SUITE, ("description",), "naïve café"))
    for label, body in {
        "latin-1": text.encode("latin-1"),
        "utf-16": text.encode("utf-16"),
        "binary": bytes(rng.randrange(256) for _ in range(512)),
        "NUL": b'name = "x\0"\n',
    }.items():
        cases.append(_suite_case(label, "bad encodings", body, []))
    for depth in (100, 20000):
        body = ("tasks = " + "[" * depth + "]" * depth + "\n").encode()
        cases.append(_suite_case(f"{depth} nested arrays", "deep nesting", body, []))
    cases.append(
        _suite_case("cut in half", "broken TOML", text[: len(text) // 2].encode() + b'"', [])
    )
    return cases


FLAG_CASES: list[tuple[str, list[str], str]] = [
    ("repeat 0", ["--repeat", "0"], "--repeat"),
    ("repeat huge", ["--repeat", "99999999999999999999"], "--repeat"),
    ("repeat 1001", ["--repeat", "1001"], "--repeat"),
    ("repeat text", ["--repeat", "many"], "--repeat"),
    ("warmup -1", ["--warmup", "-1"], "--warmup"),
    ("seed -1", ["--seed", "-1"], "--seed"),
    ("max-failed 2", ["--max-failed", "2"], "--max-failed"),
    ("max-failed nan", ["--max-failed", "nan"], "--max-failed"),
    ("mode", ["--mode", "fast"], "--mode"),
    ("backend", ["--backend", "warp"], "--backend"),
    ("unknown option", ["--repeats", "2"], "--repeats"),
    ("profile missing", ["--profile", "no-such-profile"], "no-such-profile"),
    ("suite missing", ["--suite", "no-such-suite"], "no-such-suite"),
    ("out is a file", ["--out", "{f.txt}"], "--out"),
    ("out under a file", ["--out", "{f.txt}/sub"], "--out"),
]


def _flags() -> list[Case]:
    return [
        Case("flags", label, {"f.txt": b"a file", "p.toml": _toml(BASE_PROFILE)},
             ["--profile", "{p.toml}", *args], [named])
        for label, args, named in FLAG_CASES
    ]  # fmt: skip


def generate() -> list[Case]:
    """Every malformed case, the same ones on every run (seeded)."""
    rng = random.Random(SEED)
    return [
        *_wrong_types(rng),
        *_out_of_range(),
        *_inf_nan(),
        *_unknown_fields(rng),
        *_bad_encodings(rng),
        *_deep_nesting(),
        *_bad_names(),
        *_bad_extends(),
        *_missing_fields(),
        *_bad_routes(),
        *_broken_toml(),
        *_suites(rng),
        *_flags(),
    ]


def _prepare(case: Case, folder: Path) -> list[str]:
    for name, body in case.files.items():
        (folder / name).write_bytes(body)
    args = [a.replace("{", "").replace("}", "") for a in case.args]
    args = [str(folder / a) if a.split("/")[0] in case.files else a for a in args]
    # The case's own flags come last: they win over these defaults.
    return ["run", "--backend", "fake", "--repeat", "1", "--out", str(folder / "out"), *args]


def _problems(case: Case, folder: Path, code: int, err: str) -> list[str]:
    problems = []
    lines = [line for line in err.splitlines() if line.strip()]
    if code != 2:
        problems.append(f"exit {code}")
    if "Traceback" in err:
        problems.append("a traceback")
    if len(lines) != 1 or not lines[0].startswith("error:"):
        problems.append(f"{len(lines)} lines: {err[:300]!r}")
    elif case.names and not any(name in lines[0] for name in case.names):
        problems.append(f"names none of {case.names}: {lines[0][:300]!r}")
    left = sorted(p.name for p in folder.iterdir() if p.name not in case.files)
    if left:
        problems.append(f"left behind: {left}")
    return problems


def test_the_generator_makes_at_least_200_profiles_and_suites():
    cases = generate()
    counts = Counter(case.category for case in cases)
    suites = sum(n for c, n in counts.items() if c.startswith("suite"))
    assert sum(counts.values()) - counts["flags"] >= 200 and suites >= 40, counts
    assert len({(c.category, c.label) for c in cases}) == len(cases)  # no case twice


def test_every_malformed_input_is_one_clear_error_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory either
    failures: list[str] = []
    tried: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    command = build_command()  # the real entry point, its command built once for speed
    for index, case in enumerate(generate()):
        folder = tmp_path / f"case{index}"
        folder.mkdir()
        code = main(_prepare(case, folder), command=command)
        err = capsys.readouterr().err
        tried[case.category] += 1
        problems = _problems(case, folder, code, err)
        if problems:
            failures.append(f"{case.category} / {case.label}: {'; '.join(problems)}")
        else:
            passed[case.category] += 1
    report = "\n".join(f"  {c}: {passed[c]}/{n}" for c, n in sorted(tried.items()))
    print(f"malformed inputs, passing/tried per category:\n{report}")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("case")) == []
    assert not failures, f"{len(failures)} of {sum(tried.values())} cases:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "label",
    ["utf-16", "20000 nested arrays", "name traversal", "inf backoff"],
)
def test_malformed_profiles_in_a_subprocess(tmp_path, label):
    bodies = {
        "utf-16": tomli_w.dumps(BASE_PROFILE).encode("utf-16"),
        "20000 nested arrays": ("x = " + "[" * 20000 + "]" * 20000 + "\n").encode(),
        "name traversal": _toml(_set(BASE_PROFILE, ("name",), "../../../../tmp/x/TRAVERSED")),
        "inf backoff": tomli_w.dumps(_set(BASE_PROFILE, ("settings", "retry_backoff_s"), 7.5))
        .replace("7.5", "inf")
        .encode(),
    }
    (tmp_path / "p.toml").write_bytes(bodies[label])
    done = subprocess.run(
        [sys.executable, "-m", "orchbench", "run", "--profile", "p.toml", "--backend", "fake",
         "--out", "out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "p.toml" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]
