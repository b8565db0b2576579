import pytest

from jamba_eval.ruler.metrics import (
    postprocess_prediction,
    sample_score,
    string_match_all,
    string_match_part,
)


def test_string_match_all_gives_partial_credit_case_insensitively():
    preds = ["The values are 1234567 and 7654321.", "apple-TREE", "nothing here"]
    refs = [["1234567", "7654321", "1111111", "2222222"], ["Apple-tree"], ["x"]]
    # (2/4 + 1 + 0) / 3 * 100
    assert string_match_all(preds, refs) == 50.0


def test_string_match_all_rounds_like_ruler():
    assert string_match_all(["a", "", ""], [["a"], ["b"], ["c"]]) == 33.33
    assert string_match_all(["a b", ""], [["a", "b", "c"], ["d"]]) == 33.33


def test_qa_any_match_versus_all_match():
    preds = ["It was Denver Broncos", "the Panthers"]
    refs = [["Denver Broncos", "Broncos", "Carolina"], ["Carolina Panthers", "Panthers"]]
    assert string_match_part(preds, refs) == 100.0  # one reference found is enough
    assert string_match_all(preds, refs) == round((2 / 3 + 1 / 2) / 2 * 100, 2)  # 58.33


def test_extra_text_is_not_penalised_and_empty_predictions_score_zero():
    assert string_match_all(["blah 42 blah 43 blah"], [["42", "43"]]) == 100.0
    assert string_match_part([""], [["42"]]) == 0.0


def test_postprocessing_turns_control_characters_into_newlines():
    assert postprocess_prediction("  7\x00654\t321 \x1f") == "7\n654\n321"
    # a control character inside a number breaks the match, as in RULER
    assert sample_score("string_match_all", " 7\x01654321", ["7654321"]) == 0.0
    assert sample_score("string_match_all", "\n 7654321 \n", ["7654321"]) == 100.0
    assert sample_score("string_match_part", "DENVER", ["Denver", "x"]) == 100.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        string_match_all(["a"], [["a"], ["b"]])
    with pytest.raises(ValueError):
        string_match_all(["a"], ["a"])  # references must be lists
    with pytest.raises(ValueError):
        sample_score("f1", "a", ["a"])
