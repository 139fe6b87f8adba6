"""CEL rules: positions of syntax errors and unknown names, fail-closed evaluation."""

from __future__ import annotations

from backend.governance import rules

FIELDS = {"metrics", "stage", "model"}


def test_a_syntax_error_names_its_line_and_column():
    problems = rules.check("entity.metrics.accuracy >=\n 0.9 &&& true", where="rules[0]", rule="r",
                           entity_fields=FIELDS)
    assert len(problems) == 1
    assert (problems[0].line, problems[0].column) == (2, 8)
    assert "Syntax error" in problems[0].message


def test_unknown_names_and_attributes_are_reported_at_their_position():
    source = 'entity.metrcs.accuracy > 0.9 && user.dept == "x" && foo'
    problems = rules.check(source, where="rules[0]", rule="r", entity_fields=FIELDS)
    found = {(p.column, p.message.split("'")[1]) for p in problems}
    assert found == {(8, "entity.metrcs"), (38, "user.dept"), (53, "foo")}


def test_macro_variables_and_functions_are_not_unknown_names():
    source = 'entity.model.metadata.tags.exists(t, t == "nlp") && size(entity.metrics) > 0 && has(entity.stage)'
    assert rules.check(source, where="rules[0]", rule="r", entity_fields=FIELDS) == []


def test_evaluation_fails_closed():
    ctx = {"entity": {"metrics": {}}, "user": {}, "action": {}}
    missing = rules.evaluate("entity.metrics.accuracy >= 0.9", ctx)
    assert not missing.passed and "missing attribute 'accuracy'" in missing.reason
    typed = rules.evaluate('entity.metrics == "x" + 1', ctx)
    assert not typed.passed and typed.reason.startswith("could not evaluate")
    not_bool = rules.evaluate("1 + 1", ctx)
    assert not not_bool.passed and "not a boolean" in not_bool.reason
    assert rules.evaluate("has(entity.metrics.accuracy) || true", ctx).passed
    assert rules.evaluate("entity.metrics.accuracy >= 0.9", {"entity": {"metrics": {"accuracy": 1}}}).passed
