"""The libsandbox self-test catalogue and its runners.

One catalogue backs three entry points:

    python3 examples/open-webui/tools/run_code.py --self_test      (tool file)
    python3 examples/open-webui/functions/run_code.py --self_test  (function file)
    python -m libsandbox --self_test                               (the library)

Installed as ``libsandbox.selftest``; a source checkout can also load this
directory as a package of any name (imports inside are relative).
"""

from .cases import EXTRA_CASES, FUNCTION_CASES, SAMPLE_CODE, SUITES, TOOL_CASES, Case
from .context import Context
from .runner import CASE_BUDGET_S, Verdict, main, run_case, run_file_suite, run_suite
from .targets import FileTarget, LibraryTarget, Outcome, OutFile, Request, Target

__all__ = [
    "CASE_BUDGET_S",
    "EXTRA_CASES",
    "FUNCTION_CASES",
    "SAMPLE_CODE",
    "SUITES",
    "TOOL_CASES",
    "Case",
    "Context",
    "FileTarget",
    "LibraryTarget",
    "OutFile",
    "Outcome",
    "Request",
    "Target",
    "Verdict",
    "main",
    "run_case",
    "run_file_suite",
    "run_suite",
]
