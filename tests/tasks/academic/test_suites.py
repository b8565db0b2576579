import pytest

from jamba_eval.errors import ConfigError
from jamba_eval.tasks.academic import AcademicConfig, list_suites, load_suite, suite_names
from jamba_eval.tasks.academic.run import resolve_entries


def test_suites_load_with_published_numbers_and_sources():
    assert {"jamba-v0.1", "jamba-1.5", "open-llm-v2"} <= set(suite_names())
    v01 = load_suite("jamba-v0.1")
    shots = {t.task: t.num_fewshot for t in v01.tasks}
    assert shots == {
        "hellaswag": 10,
        "winogrande": 5,
        "arc_easy": 0,
        "arc_challenge": 25,
        "piqa": 0,
        "nq_open": 5,
        "truthfulqa_mc2": 0,
        "boolq": 10,
        "gsm8k_cot": 3,
        "mmlu": 5,
        "bbh_fewshot": 3,
    }
    assert "2403.19887" in v01.source
    mmlu = next(t for t in v01.tasks if t.task == "mmlu")
    assert mmlu.published == {"jamba-v0.1": 67.4, "mixtral-8x7b": 70.6, "llama-2-70b": 69.8}
    for suite in map(load_suite, suite_names()):
        for task in suite.tasks:
            assert set(task.verified) <= set(task.published), (suite.name, task.task)
    assert all(len(row) == 2 for row in list_suites())


def test_every_suite_task_exists_in_lm_eval(task_manager):
    for suite in map(load_suite, suite_names()):
        for task in suite.tasks:
            assert task.task in task_manager.all_tasks, f"{suite.name}: {task.task} unknown to lm-eval"


def test_resolve_entries():
    _, entries = resolve_entries(AcademicConfig(suite="jamba-v0.1", tasks=["mmlu", "toy_mc"], num_fewshot=1))
    assert [(e.task, e.num_fewshot) for e in entries] == [("mmlu", 1), ("toy_mc", 1)]
    with pytest.raises(ConfigError, match="--suite"):
        resolve_entries(AcademicConfig())
    with pytest.raises(ConfigError, match="unknown suite"):
        resolve_entries(AcademicConfig(suite="nope"))
