"""Academic benchmarks through EleutherAI's lm-evaluation-harness, on any jamba-eval runner.

`RunnerLM` (the lm-eval model over our runner protocol) is imported lazily: lm-eval is the `lm-eval` extra.
"""

from jamba_eval.tasks.academic.run import AcademicConfig, cli_main, format_summary, run_academic
from jamba_eval.tasks.academic.suites import Suite, SuiteTask, list_suites, load_suite, suite_names

__all__ = [
    "AcademicConfig",
    "RunnerLM",
    "Suite",
    "SuiteTask",
    "cli_main",
    "format_summary",
    "list_suites",
    "load_suite",
    "run_academic",
    "suite_names",
]


def __getattr__(name: str):
    if name == "RunnerLM":
        from jamba_eval.tasks.academic.bridge import RunnerLM

        return RunnerLM
    raise AttributeError(name)
