"""Mutation testing of the consent gate, the policy module and the license lifecycle.

`python bench/run.py mutation` mutates `consent/gate.py`, `consent/policies.py` and
`consent/lifecycle.py` (and the row locks of `consent/services.py`), runs the consent and
API tests that reach each mutant, and prints per module: mutants, killed, survived,
timeouts and the kill rate ((killed + timeout) / mutants), then every surviving mutant
with the reason it is equivalent (REASONS below). A survivor without a reason is listed
under `unexplained` and makes the report say FAIL.

The mutants
    * mutmut's operators (mutmut 3.8.1, `mutmut.mutation.file_mutation.create_mutations`):
      every mutation mutmut makes inside a function or method (strings, numbers,
      comparison and boolean operators, `is`/`in`, `not`, call arguments, assignments,
      ternaries), one mutant each.
    * three operators mutmut lacks, for what the consent invariants rest on:
      `drop_check`   an `if`/`elif` test replaced by False: the check deleted
                     (e.g. the USE_NOT_APPROVED check);
      `drop_lock`    `x.select_for_update()` replaced by `x`: the row lock dropped
                     (the gate's lock and every lock in consent/services.py);
      `transitions`  lifecycle.TRANSITIONS with one source state added or removed, or
                     one target changed (e.g. `resume` allowed from `revoked`).

How they run (seconds per mutant, the working tree never touched)
    The tree is copied to a temporary folder and one pytest session starts there with
    an in-memory SQLite test database. It runs the chosen tests once without a mutant
    (the baseline: it records each test's duration and which functions of the mutated
    modules it reaches), once more in a forked child in the order the mutants use (the
    control), and leaves out, with their names in the report, any test that fails in
    either, any slower than MAX_TEST_SECONDS and any that commits (a transactional test
    would flush the database every child starts from). Then it forks one child per mutant. The
    child swaps the mutated function's code object in place (`f.__code__`, so every
    reference to the function sees it; a mutated module-level table is updated in
    place), runs only the tests that reach the mutated function, fastest first, and
    stops at the first failure. Mutants live only in the children's memory; no mutated
    file is ever written, and the copy is removed at the end, Ctrl-C included.

    `mutmut run` itself is not used: each of its forked children calls pytest.main(), so
    each mutant pays for a new pytest session and a new test database (migrations), and
    its trampolines cover function bodies only, so neither the transition table nor a
    dropped lock could be mutated.

Knobs (environment)
    BESPOKE_MUTATION_MODULES  comma-separated subset, e.g. `consent/gate.py` or `gate,lifecycle`
    BESPOKE_MUTATION_LIMIT    at most this many mutants per module (evenly spread), for a reduced run
    BESPOKE_MUTATION_TESTS    comma-separated pytest paths to use instead of TEST_PATHS
    BESPOKE_MUTATION_JOBS     mutants run in parallel (default: the CPU count)
    BESPOKE_MUTATION_RESULTS  a file to keep every mutant's verdict in (JSON: diff, status, killing test, seconds)
"""

from __future__ import annotations

import builtins
import difflib
import importlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

BOOTSTRAP = False  # bench/run.py: this benchmark makes its own test database, no demo data folder needed

# module -> which operators apply ("all", or only "drop_lock")
MODULES: dict[str, str] = {
    "consent/gate.py": "all",
    "consent/policies.py": "all",
    "consent/lifecycle.py": "all",
    "consent/services.py": "drop_lock",  # the license lock revocation takes (invariant 1), not the whole module
}
TEST_PATHS = ("tests/consent", "tests/api")
IGNORE_TESTS = ("tests/api/test_schema_conformance.py",)  # a fuzzing run over the whole API: 15 s, gate-agnostic
MAX_TEST_SECONDS = 4.0  # a test slower than this in the baseline is left out of the mutant runs (listed)
TIMEOUT_FACTOR, TIMEOUT_FLOOR = 4.0, 15.0  # a mutant gets FACTOR x its tests' baseline time + FLOOR seconds
# Copied into the temporary tree; everything else (docs, screenshots, data folders) is left out.
COPY_SKIP = ("docs/", "research/", "test-artifacts/", "var/", ".venv/", "node_modules/")

# Why a surviving mutant is equivalent (no test can tell it from the original), keyed by
# the mutant's stable description: "<module>::<function>::<original line> => <mutated line>".
_ALLOWED_MESSAGE = ("the message of an allowed decision is dropped: _decide returns GateDecision(True, stage, "
                    "license_id) whose message is always empty")
_COUNT_TYPE = ("without it the count's type is inferred from the counted rows' primary key, an integer for every "
               "table the gate counts (signatures, uses), so the value and its conversion are the same")
_RECOMPILED = ("the statement is compiled again instead of being found among those already compiled: the same SQL "
               "and the same decision, only slower")
REASONS: dict[str, str] = {
    # consent/gate.py
    "consent/gate.py::check::return _decide(use=use, stage=stage, actor=actor, subject=subject, lock=False) => "
    "return _decide(use=use, stage=stage, actor=actor, subject=subject, lock=None)":
        "None is as false as False: _evaluate only asks `if lock:`",
    "consent/gate.py::_evaluate::return None, \"\" => return None, \"XXXX\"": _ALLOWED_MESSAGE,
    "consent/gate.py::_evaluate::if license_id is None: => if False:":
        "an id that is not a UUID reaches the queries as NULL, which matches no license: the same refusal, "
        "LICENSE_NOT_FOUND with the same message, one query later",
    "consent/gate.py::_count::return Subquery(rows.order_by().annotate(n=Func(F(\"pk\"), function=\"COUNT\")).values(\"n\"), "
    "=> return Subquery(rows.order_by().annotate(n=Func(F(\"pk\"), function=\"count\")).values(\"n\"),":
        "SQL function names are case-insensitive",
    "consent/gate.py::_count::output_field=IntegerField()) => )": _COUNT_TYPE,
    "consent/gate.py::_count::output_field=IntegerField()) => output_field=None)": _COUNT_TYPE,
    "consent/gate.py::_with_standing::use_approved=Exists(UseApproval.objects.filter(license_id=OuterRef(\"pk\"), job_ref=job_ref, "
    "=> use_approved=Exists(UseApproval.objects.filter(job_ref=job_ref,":
        "UseApproval.job_ref is unique across all licenses (unique=True), so the approval found by job_ref is "
        "already this license's; the license filter cannot change the answer",
    "consent/gate.py::_statement::found = statements.get(key) => found = None": _RECOMPILED,
    "consent/gate.py::_statement::found = statements.get(key) => found = statements.get(None)": _RECOMPILED,
    "consent/gate.py::_read_with_standing::license = LikenessLicense.from_db(connection.alias, None, row[:fields]) => "
    "license = LikenessLicense.from_db(None, None, row[:fields])":
        "the database an instance came from matters only to saving it or following its relations through it; the "
        "gate reads the license's attributes and queries through the default manager",
    "consent/gate.py::consent_reference::license = LikenessLicense.objects.only(\"id\", \"text_sha256\").get(pk=license_id) "
    "=> license = LikenessLicense.objects.only(\"id\", ).get(pk=license_id)":
        "only() defers fields; a deferred text_sha256 is loaded when read, one query later, with the same value",
    "consent/gate.py::consent_reference::license = LikenessLicense.objects.only(\"id\", \"text_sha256\").get(pk=license_id) "
    "=> license = LikenessLicense.objects.only(\"text_sha256\").get(pk=license_id)":
        "only() always loads the primary key, named or not",
    # consent/policies.py
    "consent/policies.py::_memberships::if not user.is_authenticated: => if False:":
        "an anonymous user's pk is None and no membership has a null user, so the filter finds none either way "
        "(the check only spares a query)",
}


def reason_for(key: str) -> str | None:
    """The reason for a mutant; one reason covers identical mutants of one function (`key #2`, ...)."""
    return REASONS.get(key) or REASONS.get(re.sub(r" #\d+$", "", key))


# --- mutants ----------------------------------------------------------------------------------

@dataclass
class Mutant:
    id: int
    module: str  # "consent/gate.py"
    dotted: str  # "consent.gate"
    operator: str
    scope: str  # "function": target is a qualified name; "module": target is a module-level name
    target: str
    line: int = 0
    before: str = ""
    after: str = ""
    diff: str = ""
    key: str = ""
    code: str = field(default="", repr=False)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("code")
        return data


def _dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def _qualnames(module: Any) -> dict[Any, str]:
    """Top-level functions and methods of top-level classes -> their qualified names (as mutmut sees them)."""
    import libcst as cst

    names: dict[Any, str] = {}
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            names[statement] = statement.name.value
        elif isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
            for child in statement.body.body:
                if isinstance(child, cst.FunctionDef):
                    names[child] = f"{statement.name.value}.{child.name.value}"
    return names


def _own_candidates(module: Any, operators: str) -> list[tuple[str, str, Any, Any]]:
    """(operator, function, original node, mutated node) for the operators mutmut lacks."""
    import libcst as cst

    found: list[tuple[str, str, Any, Any]] = []

    class Visitor(cst.CSTVisitor):
        def __init__(self, function: str) -> None:
            self.function = function

        def visit_If(self, node: cst.If) -> None:
            if operators == "all" and not (isinstance(node.test, cst.Name) and node.test.value == "False"):
                found.append(("drop_check", self.function, node, node.with_changes(test=cst.Name("False"))))

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "select_for_update":
                found.append(("drop_lock", self.function, node, node.func.value))

    for function_node, name in _qualnames(module).items():
        function_node.visit(Visitor(name))
    return found


def _transition_candidates(module: Any) -> list[tuple[str, str, Any, Any]]:
    """lifecycle.TRANSITIONS: each action with one more or one fewer source state, or another target."""
    import libcst as cst

    from consent.models import LikenessLicense

    states = [member.name for member in LikenessLicense.Status]
    found: list[tuple[str, str, Any, Any]] = []
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            targets = [small.target] if isinstance(small, cst.AnnAssign) else getattr(small, "targets", [])
            names = [getattr(getattr(t, "target", t), "value", None) for t in targets]
            if "TRANSITIONS" not in names or not isinstance(small.value, cst.Dict):
                continue
            for element in small.value.elements:
                value = element.value
                try:  # an entry reads `"action": ((S.SOURCE, ...), S.TARGET)`
                    sources_node, target_node = value.elements[0].value, value.elements[1].value
                    sources = [e.value.attr.value for e in sources_node.elements]
                    target = target_node.attr.value
                except (AttributeError, IndexError):
                    raise RuntimeError(f"lifecycle.TRANSITIONS changed shape; teach bench/mutation.py the new one: "
                                       f"{module.code_for_node(element)}") from None

                def entry(new_sources: list[str], new_target: str) -> Any:
                    inner = ", ".join(f"S.{s}" for s in new_sources) + ("," if len(new_sources) == 1 else "")
                    return cst.parse_expression(f"(({inner}), S.{new_target})")

                for state in states:
                    if state not in sources:
                        found.append(("transitions", "TRANSITIONS", value, entry([*sources, state], target)))
                for state in sources:
                    rest = [s for s in sources if s != state]
                    found.append(("transitions", "TRANSITIONS", value,
                                  entry(rest, target) if rest else cst.parse_expression(f"((), S.{target})")))
                for state in states:
                    if state != target:
                        found.append(("transitions", "TRANSITIONS", value, entry(sources, state)))
    return found


def _describe(original: str, mutated: str) -> tuple[int, str, str, str]:
    a, b = original.splitlines(), mutated.splitlines()
    line, before, after = 0, [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        line = line or i1 + 1
        before += [x.strip() for x in a[i1:i2]]
        after += [x.strip() for x in b[j1:j2]]
    diff = "".join(difflib.unified_diff([x + "\n" for x in a], [x + "\n" for x in b], n=0, lineterm="\n"))
    diff = "\n".join(x for x in diff.splitlines() if not x.startswith(("---", "+++")))
    return line, " / ".join(before), " / ".join(after), diff


def generate_mutants(modules: list[str], limit: int | None) -> list[Mutant]:
    """All mutants of these modules (the working directory is the tree being mutated)."""
    from mutmut.mutation.file_mutation import create_mutations, deep_replace

    mutants: list[Mutant] = []
    for path in modules:
        operators = MODULES[path]
        code = Path(path).read_text()
        module, mutations, _, _ = create_mutations(path, code)
        qualnames = _qualnames(module)
        candidates: list[tuple[str, str, str, Any, Any]] = []  # operator, scope, target, original, mutated
        if operators == "all":
            for mutation in mutations:
                function = qualnames.get(mutation.contained_by_top_level_function)
                if function is not None:
                    candidates.append((f"mutmut:{type(mutation.original_node).__name__}", "function", function,
                                       mutation.original_node, mutation.mutated_node))
        candidates += [(op, "function", fn, old, new) for op, fn, old, new in _own_candidates(module, operators)]
        if operators == "all":
            candidates += [(op, "module", name, old, new) for op, name, old, new in _transition_candidates(module)]
        if limit is not None and len(candidates) > limit:  # evenly spread over the operators and the file
            step = len(candidates) / limit
            candidates = [candidates[int(i * step)] for i in range(limit)]
        # Render a mutant by re-rendering only the top-level statement that holds it.
        parts = [module.code_for_node(line) for line in module.header]
        statement_index: dict[int, int] = {}
        for statement in module.body:
            statement_index.update((id(node), len(parts)) for node in _walk(statement))
            parts.append(module.code_for_node(statement))
        parts += [module.code_for_node(line) for line in module.footer]
        statements = {len(module.header) + i: statement for i, statement in enumerate(module.body)}
        if "".join(parts) != code:  # rendering statement by statement must give the file back
            raise RuntimeError(f"{path}: libcst did not round-trip the file statement by statement")
        seen: set[str] = set()
        keys: Counter[str] = Counter()
        module_mutants: list[Mutant] = []
        for operator, scope, target, old, new in candidates:
            index = statement_index[id(old)]
            mutated_statement = deep_replace(statements[index], old, new)
            mutated_code = "".join([*parts[:index], module.code_for_node(mutated_statement), *parts[index + 1:]])
            if mutated_code == code or mutated_code in seen:  # no change, or a duplicate of another mutant
                continue
            seen.add(mutated_code)
            line, before, after, diff = _describe(code, mutated_code)
            key = f"{path}::{target}::{before} => {after}"
            keys[key] += 1
            if keys[key] > 1:
                key += f" #{keys[key]}"
            module_mutants.append(Mutant(0, path, _dotted(path), operator, scope, target, line, before, after,
                                         diff, key, mutated_code))
        module_mutants.sort(key=lambda m: (m.line, m.key))
        mutants += module_mutants
    for number, mutant in enumerate(mutants):
        mutant.id = number
    return mutants


def _walk(node: Any) -> Any:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


# --- applying a mutant (in a forked child) ------------------------------------------------------

def _resolve(namespace: dict[str, Any], qualname: str) -> Any:
    obj: Any = None
    for part in qualname.split("."):
        obj = namespace[part] if obj is None else inspect.getattr_static(obj, part)
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return inspect.unwrap(obj)


def apply_mutant(mutant: Mutant) -> None:
    """Make the already imported module behave as the mutant does, for every caller."""
    module = importlib.import_module(mutant.dotted)
    namespace: dict[str, Any] = {"__name__": mutant.dotted, "__file__": module.__file__, "__builtins__": builtins,
                                 "__package__": module.__package__}
    exec(compile(mutant.code, module.__file__ or mutant.module, "exec"), namespace)  # noqa: S102
    if mutant.scope == "function":
        original, mutated = _resolve(vars(module), mutant.target), _resolve(namespace, mutant.target)
        original.__code__ = mutated.__code__
        original.__defaults__, original.__kwdefaults__ = mutated.__defaults__, mutated.__kwdefaults__
        return
    original, mutated = getattr(module, mutant.target), namespace[mutant.target]
    if isinstance(original, dict):
        original.clear()
        original.update(mutated)
    elif isinstance(original, list):
        original[:] = mutated
    else:
        setattr(module, mutant.target, mutated)


# --- the worker: one pytest session in the copied tree ------------------------------------------

class _SessionOnly:
    """A `nextitem` that keeps only session-scoped fixtures (the test database) set up."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def listchain(self) -> list[Any]:
        return [self.session]


def _names_used(code: Any) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names_used(const)
    return names


class _Worker:
    def __init__(self, spec: dict[str, Any], progress: Any) -> None:
        self.spec = spec
        self.progress = progress
        self.files = {str((Path.cwd() / m).resolve()): _dotted(m) for m in spec["modules"]}
        self.left_out: list[str] = []  # tests that commit

    def say(self, text: str) -> None:
        self.progress.write(text + "\n")
        self.progress.flush()

    # pytest hooks
    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        """Leave out tests that commit (transactional_db, live_server): they flush the shared
        test database that every child starts from."""
        kept = []
        for item in items:
            marker = item.get_closest_marker("django_db")
            committing = (marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
            if committing or {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())):
                self.left_out.append(item.nodeid)
            else:
                kept.append(item)
        items[:] = kept

    def pytest_runtestloop(self, session: Any) -> bool:
        try:
            self._loop(session)
        finally:
            session.shouldstop = False
        return True

    def _trace_baseline(self, session: Any) -> tuple[dict[str, float], dict[str, set[tuple[str, str]]], list[str]]:
        import threading

        from _pytest.runner import runtestprotocol

        durations: dict[str, float] = {}
        reached: dict[str, set[tuple[str, str]]] = {}
        failed: list[str] = []
        files = self.files
        current: set[tuple[str, str]] = set()

        def tracer(frame: Any, event: str, arg: Any) -> None:
            code = frame.f_code
            dotted = files.get(code.co_filename)
            if dotted is not None and code.co_qualname != "<module>":
                current.add((dotted, code.co_qualname.split(".<locals>")[0]))

        items = session.items
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else _SessionOnly(session)
            current = set()
            sys.settrace(tracer)
            threading.settrace(tracer)
            start = time.perf_counter()
            try:
                reports = runtestprotocol(item, nextitem=nextitem, log=False)
            finally:
                sys.settrace(None)
                threading.settrace(None)  # type: ignore[arg-type]
            durations[item.nodeid] = time.perf_counter() - start
            if any(r.failed for r in reports) or not any(r.when == "call" and r.passed for r in reports):
                failed.append(item.nodeid)
            reached[item.nodeid] = current
        # The first test to use a session fixture (the test database) pays for setting it up, and
        # tracing slows every test: time a slow one again, untraced.
        for index, item in enumerate(items):
            if durations[item.nodeid] > MAX_TEST_SECONDS and item.nodeid not in failed:
                start = time.perf_counter()
                runtestprotocol(item, nextitem=_SessionOnly(session), log=False)
                durations[item.nodeid] = time.perf_counter() - start
        return durations, reached, failed

    def _loop(self, session: Any) -> None:
        if session.testsfailed:
            raise session.Interrupted(f"{session.testsfailed} errors while collecting the tests")
        for dotted in self.files.values():
            module = importlib.import_module(dotted)
            if str(Path(module.__file__ or "").resolve()) not in self.files:
                raise RuntimeError(f"{dotted} was imported from {module.__file__}, not from the copied tree")
        started = time.perf_counter()
        mutants = generate_mutants(self.spec["modules"], self.spec["limit"])
        self.say(f"mutation: {len(mutants)} mutants generated in {time.perf_counter() - started:.0f} s; "
                 f"baseline run of {len(session.items)} tests ...")
        started = time.perf_counter()
        durations, reached, failed = self._trace_baseline(session)
        self.say(f"mutation: baseline took {time.perf_counter() - started:.0f} s"
                 + (f"; {len(failed)} tests fail without a mutant and are left out" if failed else ""))
        slow = sorted(n for n, d in durations.items() if d > MAX_TEST_SECONDS and n not in failed)
        usable = {item.nodeid: item for item in session.items if item.nodeid not in failed and item.nodeid not in slow}
        # The control: every usable test in a forked child, fastest first as the mutants run them,
        # without a mutant. A test that fails there depends on the order or on the process, and
        # would kill mutants it never tested: it is left out.
        started = time.perf_counter()
        control = self._control(session, sorted(usable, key=lambda n: (durations[n], n)), usable)
        failed += control
        for nodeid in control:
            usable.pop(nodeid, None)
        self.say(f"mutation: control run (no mutant, forked) took {time.perf_counter() - started:.0f} s"
                 + (f"; {len(control)} tests fail there and are left out" if control else ""))

        by_function: dict[tuple[str, str], set[str]] = defaultdict(set)
        for nodeid, keys in reached.items():
            if nodeid in usable:
                for key in keys:
                    by_function[key].add(nodeid)
        # a module-level table: the tests that reach a function whose code reads it
        names_by_function: dict[tuple[str, str], set[str]] = {}
        for dotted, qualname in by_function:
            try:
                names_by_function[(dotted, qualname)] = _names_used(
                    _resolve(vars(importlib.import_module(dotted)), qualname).__code__)
            except (KeyError, AttributeError):
                names_by_function[(dotted, qualname)] = set()

        killers: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)  # which tests killed this function's mutants

        def tests_for(mutant: Mutant) -> list[str]:
            """The tests that reach the mutant: those that killed other mutants of the same function
            first (most kills first), then the rest, fastest first."""
            if mutant.scope == "function":
                chosen = by_function.get((mutant.dotted, mutant.target), set())
            else:
                chosen = set().union(*[tests for key, tests in by_function.items()
                                       if mutant.target in names_by_function[key]])
            kills = killers[(mutant.dotted, mutant.target)]
            return sorted(chosen, key=lambda n: (-kills[n], durations[n], n))

        def killed_by(mutant: Mutant, nodeid: str) -> None:
            killers[(mutant.dotted, mutant.target)][nodeid] += 1

        results = self._run_mutants(session, mutants, usable, durations, tests_for, killed_by)
        Path(self.spec["results"]).write_text(json.dumps({
            "mutants": [m.public() for m in mutants], "results": results, "tests": len(session.items),
            "tests_used": len(usable), "baseline_failures": failed, "slow_tests_left_out": slow,
            "committing_tests_left_out": self.left_out,
            "baseline_seconds": round(sum(durations.values()), 1)}))

    def _run_mutants(self, session: Any, mutants: list[Mutant], usable: dict[str, Any],
                     durations: dict[str, float], tests_for: Any, killed_by: Any) -> dict[str, dict[str, Any]]:
        jobs = max(1, int(self.spec["jobs"]))
        scratch = Path(self.spec["scratch"])
        results: dict[str, dict[str, Any]] = {}
        running: dict[int, tuple[Mutant, float, float, Path]] = {}
        queue = list(mutants)
        counts: Counter[str] = Counter()
        started = time.perf_counter()
        last_report = started

        def finish(mutant: Mutant, status: str, extra: dict[str, Any]) -> None:
            extra.pop("failures", None)
            results[str(mutant.id)] = {"status": status, **extra}
            counts[status] += 1

        try:
            while queue or running:
                while queue and len(running) < jobs:
                    mutant = queue.pop(0)
                    tests = tests_for(mutant)
                    if not tests:
                        finish(mutant, "survived", {"tests_run": 0, "seconds": 0.0, "no_tests": True})
                        continue
                    out = scratch / f"mutant-{mutant.id}"
                    out.mkdir()
                    budget = TIMEOUT_FACTOR * sum(durations[n] for n in tests) + TIMEOUT_FLOOR
                    pid = os.fork()
                    if pid == 0:  # the child: never returns
                        self._child(session, mutant, [usable[n] for n in tests], out)
                    running[pid] = (mutant, time.perf_counter(), budget, out)
                time.sleep(0.01)
                for pid, (mutant, begun, budget, out) in list(running.items()):
                    done, status = os.waitpid(pid, os.WNOHANG)
                    elapsed = time.perf_counter() - begun
                    if done == 0 and elapsed < budget:
                        continue
                    if done == 0:
                        _kill_group(pid)
                        os.waitpid(pid, 0)
                        finish(mutant, "timeout", {"seconds": round(elapsed, 2)})
                    else:
                        result_file = out / "result.json"
                        if result_file.exists():
                            result = json.loads(result_file.read_text())
                            finish(mutant, result.pop("status"), {**result, "seconds": round(elapsed, 2)})
                            if result.get("by") in usable:
                                killed_by(mutant, result["by"])
                        else:  # the child died without a verdict (a crash counts as detected)
                            finish(mutant, "killed", {"by": f"child exited with status {status}",
                                                      "seconds": round(elapsed, 2)})
                        _kill_group(pid)  # anything the tests left running
                    del running[pid]
                    shutil.rmtree(out, ignore_errors=True)
                if time.perf_counter() - last_report > 30 or (not queue and not running):
                    last_report = time.perf_counter()
                    self.say(f"mutation: {len(results)}/{len(mutants)} done in {last_report - started:.0f} s "
                             f"(killed {counts['killed']}, survived {counts['survived']}, timeout {counts['timeout']})")
        finally:
            for pid in running:
                _kill_group(pid)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        return results

    def _control(self, session: Any, order: list[str], usable: dict[str, Any]) -> list[str]:
        out = Path(self.spec["scratch"]) / "control"
        out.mkdir()
        pid = os.fork()
        if pid == 0:
            self._child(session, None, [usable[n] for n in order], out)
        os.waitpid(pid, 0)
        _kill_group(pid)
        result = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
        shutil.rmtree(out, ignore_errors=True)
        if "failures" not in result:
            raise RuntimeError("the control run (no mutant) did not finish")
        return list(result["failures"])

    def _child(self, session: Any, mutant: Mutant | None, items: list[Any], out: Path) -> None:
        code = 3
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            factory = session.config._tmp_path_factory
            (out / "tmp").mkdir()
            factory._basetemp = out / "tmp"
            from _pytest.runner import runtestprotocol

            if mutant is not None:
                try:
                    apply_mutant(mutant)
                except Exception as error:  # noqa: BLE001 - a fault of this benchmark, not a detection: reported
                    (out / "result.json").write_text(json.dumps({"status": "error", "message": repr(error)[:300]}))
                    code = 0
                    return
            verdict: dict[str, Any] = {"status": "survived", "tests_run": len(items), "failures": []}
            for index, item in enumerate(items):
                nextitem = items[index + 1] if index + 1 < len(items) else _SessionOnly(session)
                reports = runtestprotocol(item, nextitem=nextitem, log=False)
                failure = next((r for r in reports if r.failed), None)
                if failure is not None and mutant is None:  # the control run: note it and go on
                    verdict["failures"].append(item.nodeid)
                elif failure is not None:
                    message = str(getattr(failure.longrepr, "reprcrash", None) or failure.longrepr or "")
                    verdict = {"status": "killed", "by": item.nodeid, "when": failure.when,
                               "tests_run": index + 1, "message": message.splitlines()[-1][:300] if message else ""}
                    break
            (out / "result.json").write_text(json.dumps(verdict))
            code = 0
        finally:
            os._exit(code)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL if the worker dies (best effort elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _interrupt_on_sigterm() -> Any:
    """Treat SIGTERM as Ctrl-C, so the children are stopped and the copy removed either way."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return None


def worker_main(spec_path: str) -> int:
    """Entry point of the worker process (cwd: the copied tree)."""
    import pytest

    _interrupt_on_sigterm()

    spec = json.loads(Path(spec_path).read_text())
    progress = os.fdopen(os.dup(2), "w", buffering=1)  # pytest captures fd 2 while tests run
    args = [*spec["tests"], "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header", "-o",
            "console_output_style=classic", f"--basetemp={spec['scratch']}/basetemp",
            *[f"--ignore={path}" for path in IGNORE_TESTS]]
    status = pytest.main(args, plugins=[_Worker(spec, progress)])
    if not Path(spec["results"]).exists():
        progress.write(f"mutation: the worker's pytest session ended with status {status} and no results\n")
        return 1
    return 0


# --- the benchmark ------------------------------------------------------------------------------

def _selected_modules() -> list[str]:
    wanted = os.environ.get("BESPOKE_MUTATION_MODULES", "").strip()
    if not wanted:
        return list(MODULES)
    chosen = []
    for name in (w.strip() for w in wanted.split(",") if w.strip()):
        matches = [m for m in MODULES if m == name or Path(m).stem == name.removesuffix(".py").split("/")[-1]]
        if not matches:
            raise SystemExit(f"BESPOKE_MUTATION_MODULES: unknown module {name!r} (known: {', '.join(MODULES)})")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def _copy_tree(destination: Path) -> None:
    """The tracked and untracked (not ignored) files of the working tree, as they are now."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                check=True, capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    for name in listed:
        if not name or name.startswith(COPY_SKIP) or "__pycache__" in name:
            continue
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    # mutmut's configuration, for its mutation generator only (it reads pyproject's [tool.mutmut] first)
    setup_cfg = destination / "setup.cfg"
    existing = setup_cfg.read_text() if setup_cfg.exists() else ""
    if "[mutmut]" not in existing:
        setup_cfg.write_text(existing + "\n[mutmut]\nsource_paths=consent\n")


def run() -> dict[str, Any]:
    modules = _selected_modules()
    limit = int(os.environ["BESPOKE_MUTATION_LIMIT"]) if os.environ.get("BESPOKE_MUTATION_LIMIT") else None
    tests = [t.strip() for t in os.environ.get("BESPOKE_MUTATION_TESTS", "").split(",") if t.strip()] or list(TEST_PATHS)
    jobs = int(os.environ.get("BESPOKE_MUTATION_JOBS") or os.cpu_count() or 1)
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="bespoke-mutation-"))
    worker: subprocess.Popen[bytes] | None = None
    previous_handler = _interrupt_on_sigterm()
    try:
        tree = scratch / "tree"
        _copy_tree(tree)
        (scratch / "work").mkdir()
        spec = {"modules": modules, "limit": limit, "tests": tests, "jobs": jobs, "scratch": str(scratch / "work"),
                "results": str(scratch / "results.json")}
        (scratch / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "DATABASE_URL": "sqlite://:memory:", "BESPOKE_DATA_DIR": str(scratch / "data"),
               "DJANGO_SETTINGS_MODULE": "bespoke.settings", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        env.pop("BESPOKE_REQUIRE_SERVICES", None)
        code = f"import sys; from bench.mutation import worker_main; sys.exit(worker_main({str(scratch / 'spec.json')!r}))"
        with open(scratch / "worker.log", "wb") as log:  # pytest's own output; the progress goes to stderr
            worker = subprocess.Popen([sys.executable, "-c", code], cwd=tree, env=env, stdout=log)
            status = worker.wait()
        if status != 0 or not (scratch / "results.json").exists():
            tail = (scratch / "worker.log").read_text(errors="replace")[-6000:]
            raise RuntimeError(f"the mutation worker failed (status {status}):\n{tail}")
        data = json.loads((scratch / "results.json").read_text())
        if os.environ.get("BESPOKE_MUTATION_RESULTS"):
            shutil.copyfile(scratch / "results.json", os.environ["BESPOKE_MUTATION_RESULTS"])
    except BaseException:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    return _report(data, modules, time.perf_counter() - started, limit)


def _report(data: dict[str, Any], modules: list[str], seconds: float, limit: int | None) -> dict[str, Any]:
    mutants = {str(m["id"]): m for m in data["mutants"]}
    per_module: dict[str, Counter[str]] = {m: Counter() for m in modules}
    survivors = []
    for mutant_id, result in data["results"].items():
        mutant = mutants[mutant_id]
        per_module[mutant["module"]][result["status"]] += 1
        if result["status"] == "survived":
            survivors.append({**mutant, "no_tests": result.get("no_tests", False),
                              "reason": reason_for(mutant["key"])})
    report: dict[str, Any] = {}
    for module in modules:
        c = per_module[module]
        total = sum(c.values())
        detected = c["killed"] + c["timeout"]
        report[module] = {"mutants": total, "killed": c["killed"], "survived": c["survived"],
                          "timeout": c["timeout"], "kill_rate": round(detected / total, 4) if total else None}
        if c["error"]:
            report[module]["error"] = c["error"]
    unexplained = [s for s in survivors if not s["reason"]]
    errors = sum(c["error"] for c in per_module.values())
    timeouts = sorted((mutants[i] for i, r in data["results"].items() if r["status"] == "timeout"),
                      key=lambda m: (m["module"], m["line"]))
    survivors.sort(key=lambda s: (s["module"], s["line"], s["key"]))
    print("\nSurviving mutants" + (" (none)" if not survivors else ":"))
    for s in survivors:
        print(f"\n{s['module']}:{s['line']} in {s['target']} [{s['operator']}]"
              + (" (no test reaches it)" if s["no_tests"] else ""))
        print("    " + s["diff"].replace("\n", "\n    "))
        print(f"    equivalent: {s['reason']}" if s["reason"] else "    UNEXPLAINED: no reason in bench/mutation.py REASONS")
    for m in timeouts:
        print(f"\nTimed out (counted as detected): {m['module']}:{m['line']} in {m['target']}\n    "
              + m["diff"].replace("\n", "\n    "))
    if data["baseline_failures"]:
        print("\nTests failing without a mutant (left out): " + ", ".join(data["baseline_failures"]))
    if data["committing_tests_left_out"]:
        print("\nTests that commit (left out: they would flush the shared test database): "
              + ", ".join(data["committing_tests_left_out"]))
    if data["slow_tests_left_out"]:
        print(f"\nTests slower than {MAX_TEST_SECONDS} s (left out): " + ", ".join(data["slow_tests_left_out"]))
    print()
    report.update({
        "survivors": {f"{s['module']}:{s['line']} {s['key'].split('::', 1)[1]}": s["reason"] or "UNEXPLAINED"
                      for s in survivors},
        "unexplained": len(unexplained),
        "verdict": ("OK" if not unexplained and not errors else "FAIL: " + "; ".join(filter(None, [
            f"{len(unexplained)} surviving mutants without a reason" if unexplained else "",
            f"{errors} mutants could not be applied (a fault of bench/mutation.py)" if errors else ""]))),
        "tests": data["tests"], "tests_used": data["tests_used"],
        "baseline_failures": len(data["baseline_failures"]),
        "mutant_limit": limit, "seconds": round(seconds, 1),
        "tool": "mutmut 3.8.1 operators + drop_check, drop_lock, transitions",
    })
    return report
