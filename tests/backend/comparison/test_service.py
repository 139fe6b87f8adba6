"""The comparison service's own reads (most of it is tested through the API in test_api.py): which model
versions the comparison page offers."""

from __future__ import annotations

import numpy as np

from backend.catalog.model_registry.models import RegisteredModel
from backend.comparison import service
from backend.core.authorization import add_attribute_rule, remove_attribute_rule
from tests.backend.benchmarks.conftest import stored_result


def test_version_choices_benchmarked_first_bounded_and_readable(session, principals, world):
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 200)
    for version in ("1.2.0", "1.0.0"):
        stored_result(session, version_id=world.versions[version], truth=truth, predicted=truth)
    session.flush()
    reader = principals["business_user"]

    every = service.version_choices(session=session, actor=reader)
    assert [(m.name, v.version) for m, v in every] == [
        ("Churn classifier", "1.0.0"), ("Churn classifier", "1.1.0"), ("Churn classifier", "1.2.0")]
    # Bounded: the benchmarked versions come first, then shown in semantic order.
    bounded = service.version_choices(session=session, actor=reader, limit=2)
    assert [v.version for _m, v in bounded] == ["1.0.0", "1.2.0"]
    # A link's version is offered whatever the bound; an unknown id is ignored.
    linked = service.version_choices(session=session, actor=reader, limit=2,
                                     include=[world.versions["1.1.0"], "modelver_nope", world.gpt4])
    assert [v.version for _m, v in linked] == ["1.0.0", "1.1.0", "1.2.0"]

    # Versions of a model the reader may not read (an attribute rule) are not offered; nor to a role
    # without model:read.
    def no_classifier(principal, permission, resource):
        return "not this one" if isinstance(resource, RegisteredModel) and resource.id == world.classifier else None

    add_attribute_rule(no_classifier)
    try:
        assert service.version_choices(session=session, actor=reader) == []
    finally:
        remove_attribute_rule(no_classifier)
    assert service.version_choices(session=session, actor=principals["data_engineer"]) == []
