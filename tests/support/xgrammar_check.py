"""Run by vLLM's own Python (.venv-vllm): compile JSON schemas with the
installed xgrammar exactly as vLLM 0.32 does (grammar cache on, compact
separators, no free whitespace) and say which answers each grammar accepts.

Reads {"cases": [{"name", "schema", "answers": [text, ...]}]} on stdin and
writes {"name": {"compiled": bool, "error": str, "accepted": [bool, ...]}}.
"""

from __future__ import annotations

import json
import sys

import xgrammar as xgr
from xgrammar.testing import _is_grammar_accept_string


def main() -> None:
    cases = json.load(sys.stdin)["cases"]
    # A byte-level vocabulary is enough to compile; acceptance is per string.
    info = xgr.TokenizerInfo([chr(b) for b in range(32, 127)] + ["</s>"], stop_token_ids=[95])
    compiler = xgr.GrammarCompiler(info, cache_enabled=True)
    report = {}
    for case in cases:
        text = json.dumps(case["schema"])
        entry = {"compiled": True, "error": "", "accepted": []}
        try:
            compiler.compile_json_schema(text, any_whitespace=False, separators=(",", ":"))
        except RuntimeError as exc:
            entry.update(compiled=False, error=str(exc)[:300])
        grammar = xgr.Grammar.from_json_schema(text, any_whitespace=False, separators=(",", ":"))
        entry["accepted"] = [_is_grammar_accept_string(grammar, answer) for answer in case["answers"]]
        report[case["name"]] = entry
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
