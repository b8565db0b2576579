"""Local lm-eval tasks written by the tests themselves (dataset_path: json), so nothing is downloaded."""

import json
from pathlib import Path

import pytest

CONTEXTS = [
    "The capital of France is Paris. The river that flows through it is the Seine.",
    "George Washington was the first president of the United States of America.",
    "Water boils at one hundred degrees Celsius at sea level under normal pressure.",
    "The Congress shall assemble at least once in every year, as the Constitution says.",
    "A week has seven days, and a year usually has three hundred and sixty five days.",
    "The moon orbits the earth, and the earth orbits the sun once every year.",
]


def write_tasks(folder: Path) -> Path:
    """toy_mc (multiple_choice), toy_gen (generate_until), toy_ppl (loglikelihood_rolling) over local JSONL."""
    folder.mkdir(parents=True, exist_ok=True)
    mc, gen, ppl = folder / "mc.jsonl", folder / "gen.jsonl", folder / "ppl.jsonl"
    with open(mc, "w") as f:
        for i, context in enumerate(CONTEXTS):
            f.write(
                json.dumps({"question": context.split(",")[0], "choices": [" yes", " no", " maybe"], "label": i % 3})
                + "\n"
            )
    with open(gen, "w") as f:
        for context in CONTEXTS:
            words = context.split()
            f.write(json.dumps({"context": " ".join(words[:-3]), "answer": " ".join(words[-3:])}) + "\n")
    with open(ppl, "w") as f:
        for i, context in enumerate(CONTEXTS):
            f.write(json.dumps({"text": " ".join([context] * (1 + i % 3))}) + "\n")
    common = "dataset_path: json\ntest_split: test\nmetadata: {version: 1.0}\n"
    (folder / "toy_mc.yaml").write_text(
        f"task: toy_mc\n{common}dataset_kwargs:\n  data_files:\n    test: {mc}\noutput_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: label\n'
        "metric_list: [{metric: acc}, {metric: acc_norm}]\n"
    )
    (folder / "toy_gen.yaml").write_text(
        f"task: toy_gen\n{common}dataset_kwargs:\n  data_files:\n    test: {gen}\noutput_type: generate_until\n"
        'doc_to_text: "{{context}}"\ndoc_to_target: "{{answer}}"\n'
        'generation_kwargs: {until: ["\\n", "."], max_gen_toks: 12, do_sample: false}\n'
        "metric_list: [{metric: exact_match, aggregation: mean, higher_is_better: true}]\n"
    )
    (folder / "toy_ppl.yaml").write_text(
        f"task: toy_ppl\n{common}dataset_kwargs:\n  data_files:\n    test: {ppl}\n"
        'output_type: loglikelihood_rolling\ndoc_to_text: ""\ndoc_to_target: "{{text}}"\n'
        "metric_list: [{metric: word_perplexity}, {metric: byte_perplexity}, {metric: bits_per_byte}]\n"
    )
    (folder / "toy_missing.yaml").write_text(
        "task: toy_missing\ndataset_path: nobody/not-a-real-dataset-xyz\ntest_split: test\n"
        "output_type: multiple_choice\ndoc_to_text: q\ndoc_to_choice: [a, b]\ndoc_to_target: 0\n"
        "metadata: {version: 1.0}\n"
    )
    return folder


@pytest.fixture(scope="session")
def local_tasks(tmp_path_factory) -> Path:
    return write_tasks(tmp_path_factory.mktemp("lm_eval_tasks"))


@pytest.fixture(scope="session")
def task_manager(local_tasks):
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(local_tasks))
