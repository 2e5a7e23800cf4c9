"""Only ``accounts/lifecycle/`` changes a credit account's status, limit, pause and freeze flags
and available limit (docs/architecture.md): a scan of the code finds no assignment of those
fields and no call of the state machine's transitions anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "risk", "installments", "complaints", "config")
OWNER = ROOT / "accounts" / "lifecycle"
FIELDS = {"credit_limit", "available_limit", "paused_by_customer"}
TRANSITIONS = {"suspend", "reactivate", "freeze", "unfreeze"}
SQL_WRITE = re.compile(r"\bUPDATE\s+accounts_creditaccount\b[^;]*\bSET\b[^;]*\b(status|credit_limit|available_limit)\b",
                       re.IGNORECASE | re.DOTALL)


def _modules():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if OWNER in path.parents or "migrations" in path.parts or "tests" in path.parts:
                continue
            yield path


def _offences(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in FIELDS | {"status"} \
                    and "account" in ast.unparse(target.value):
                found.append(f"{path.relative_to(root)}:{node.lineno} assigns {ast.unparse(target)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TRANSITIONS \
                and ast.unparse(node.func.value) != "credit_line":  # the lifecycle module's own functions
            found.append(f"{path.relative_to(root)}:{node.lineno} calls {ast.unparse(node.func)}()")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_WRITE.search(node.value):
            found.append(f"{path.relative_to(root)}:{node.lineno} writes the account's status or limit in SQL")
    return found


def test_no_status_or_limit_change_outside_the_lifecycle_module():
    offences = [offence for path in _modules() for offence in _offences(path)]
    assert offences == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("account.credit_limit = 0\naccount.suspend()\n"
                      "SQL = 'UPDATE accounts_creditaccount SET credit_limit = 0'\nattempt.status = 'x'\n"
                      "credit_line.freeze(account)\n")
    assert [o.split(" ", 1)[1] for o in _offences(sample, root=tmp_path)] == [
        "assigns account.credit_limit", "calls account.suspend()", "writes the account's status or limit in SQL"]
