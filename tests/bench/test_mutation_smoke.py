"""A reduced run of the mutation benchmark (bench/mutation.py), so it cannot rot: three
mutants of the gate against one test file, through `python bench/run.py mutation`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.bench import ROOT, bench_run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_reduced_mutation_run_reports_each_module_and_ends_with_json(tmp_path):
    gate = ROOT / "consent" / "gate.py"
    before = _digest(gate)
    report, lines = bench_run("mutation", tmp_path,
                              OMP_NUM_THREADS="1", BESPOKE_MUTATION_MODULES="consent/gate.py",
                              BESPOKE_MUTATION_LIMIT="3", BESPOKE_MUTATION_TESTS="tests/consent/test_gate.py",
                              BESPOKE_MUTATION_JOBS="2")
    figures = report["consent/gate.py"]
    assert figures["mutants"] == 3
    assert figures["killed"] + figures["survived"] + figures["timeout"] == 3
    assert figures["kill_rate"] == round((figures["killed"] + figures["timeout"]) / 3, 4)
    assert set(report) >= {"survivors", "unexplained", "verdict", "tests", "tests_used", "seconds"}
    assert len(report["survivors"]) == figures["survived"]
    assert any(line.startswith("consent/gate.py ") for line in lines), "the table lists the module"
    assert _digest(gate) == before, "the working tree is never mutated"
