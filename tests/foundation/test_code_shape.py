"""The shape the code keeps so the next maintainer can read it: no module in
`services/` over 400 lines and no function over 60 (STYLE: small modules, one
place per concept). Checked here so a change that outgrows it is seen when it
is made, not in a later cleanup."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    found = sorted(SERVICES.rglob("*.py"))
    assert len(found) > 50, "services/ not found where expected"
    return found


def long_functions(source: str, name: str) -> list[str]:
    tree = ast.parse(source, name)
    return [f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_no_module_in_services_is_over_400_lines():
    long = [f"{p.relative_to(SERVICES.parent)} ({n} lines)" for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert long == []


def test_no_function_in_services_is_over_60_lines():
    assert [line for p in modules()
            for line in long_functions(p.read_text(), str(p.relative_to(SERVICES.parent)))] == []


def test_a_method_one_line_over_the_limit_is_named():
    body = "\n".join(f"        x{n} = {n}" for n in range(MAX_FUNCTION_LINES - 1))
    source = f"class Stage:\n    async def request(self):\n{body}\n\n    def short(self):\n        pass\n"
    assert long_functions(source, "probe.py") == []
    longer = source.replace("\n\n    def short", "\n        extra = 1\n\n    def short")
    assert long_functions(longer, "probe.py") == ["probe.py:2 request (61 lines)"]
