"""Which assignments of its conditions a template can take (every Fn::If branch is read)."""

from __future__ import annotations

from typing import Any

from cloud_assembly import conditions


def template(conds: dict[str, Any], params: dict[str, Any], uses: list[str]) -> dict[str, Any]:
    return {
        "Parameters": params,
        "Conditions": conds,
        "Resources": {
            f"R{i}": {"Type": "AWS::IoT::Policy", "Properties": {"X": {"Fn::If": [c, 1, 2]}}}
            for i, c in enumerate(uses)
        },
    }


def test_assignments_follow_the_parameters() -> None:
    t = template(
        {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}, "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]}},
        {"Stage": {"Type": "String", "Default": "prod"}},
        ["IsProd", "IsDev"],
    )
    found, truncated = conditions.assignments(t)
    assert not truncated
    assert {tuple(sorted(a.items())) for a in found} == {
        (("IsDev", False), ("IsProd", True)),
        (("IsDev", True), ("IsProd", False)),
    }, "IsProd and IsDev are never both true"
    assert conditions.default_assignment(t) == {"IsProd": True, "IsDev": False}


def test_a_condition_that_cannot_be_evaluated_takes_both_values() -> None:
    t = template({"Odd": {"Fn::Equals": [{"Fn::Select": [0, {"Fn::GetAZs": ""}]}, "x"]}}, {}, ["Odd"])
    found, _ = conditions.assignments(t)
    assert sorted(a["Odd"] for a in found) == [False, True]


def test_resource_conditions_count_and_no_conditions_is_one_variant() -> None:
    t = {"Conditions": {"C": {"Fn::Equals": ["a", "b"]}}, "Resources": {"R": {"Type": "T", "Condition": "C"}}}
    assert conditions.assignments(t) == ([{"C": False}], False)
    assert conditions.assignments({"Resources": {}}) == ([{}], False)
    assert conditions.label({"A": True, "B": False}) == "A=true, B=false"


def test_many_conditions_are_truncated_and_said() -> None:
    names = [f"C{i}" for i in range(8)]
    t = template({n: {"Fn::Equals": [{"Fn::GetAZs": ""}, "x"]} for n in names}, {}, names)
    found, truncated = conditions.assignments(t)
    assert truncated
    assert len(found) == conditions.MAX_ASSIGNMENTS
