"""The intrinsics both resolver modes evaluate, and what stays as written."""

from __future__ import annotations

import json
from typing import Any

import pytest

import cloud_assembly as ca
from cloud_assembly.resolve import NO_VALUE

RESOURCES = {"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r"}}}
PARAMETERS = {
    "Stage": {"Type": "String", "Default": "prod"},
    "Free": {"Type": "String"},
    "Zones": {"Type": "CommaDelimitedList", "Default": "a, b"},
}
MAPPINGS = {"Env": {"prod": {"Topic": "dt/prod"}}}


def readable(conditions: dict[str, bool] | None = None) -> ca.resolve.Resolver:
    return ca.READABLE.resolver("stk", RESOURCES, parameters=PARAMETERS, mappings=MAPPINGS, conditions=conditions)


def concrete() -> ca.resolve.Resolver:
    mode = ca.Concrete(account="111122223333", region="eu-west-1")
    return mode.resolver("stk", RESOURCES, parameters=PARAMETERS, mappings=MAPPINGS)


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"Ref": "AWS::Region"}, "${AWS::Region}"),
        ({"Ref": "Role"}, "${Role}"),
        ({"Ref": "Stage"}, "prod"),  # a parameter takes its default
        ({"Ref": "Free"}, "${Free}"),  # ... or stays named
        ({"Fn::GetAtt": ["Role", "Arn"]}, "${Role.Arn}"),
        ({"Fn::Join": ["/", ["a", {"Ref": "Stage"}]]}, "a/prod"),
        (
            {"Fn::Sub": "arn:${AWS::Partition}:iot:x:topic/${!iot:ClientId}"},
            "arn:${AWS::Partition}:iot:x:topic/${iot:ClientId}",
        ),
        ({"Fn::Sub": ["${A}/${Stage}/${!Literal}", {"A": {"Ref": "Role"}}]}, "${Role}/prod/${Literal}"),
        ({"Fn::Select": [1, ["a", "b"]]}, "b"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ({"Fn::Select": [0, {"Ref": "Zones"}]}, "a"),
        ({"Fn::FindInMap": ["Env", {"Ref": "Stage"}, "Topic"]}, "dt/prod"),
        ({"Fn::ImportValue": "shared"}, "${Import:shared}"),
        ({"Fn::ToJsonString": {"a": 1}}, '{"a":1}'),
        ({"Fn::Length": [1, 2, 3]}, 3),
        ({"Fn::GetAZs": ""}, {"Fn::GetAZs": ""}),  # not evaluated: stays as written
        (["a", {"Ref": "AWS::NoValue"}, "b"], ["a", "b"]),
        ({"k": {"Ref": "AWS::NoValue"}, "j": 1}, {"j": 1}),
    ],
)
def test_readable_values(node: Any, expected: Any) -> None:
    assert readable().value(node) == expected


def test_if_picks_the_branch_of_the_assignment() -> None:
    node = {"Fn::If": ["IsDev", "dev", {"Ref": "AWS::NoValue"}]}
    assert readable({"IsDev": True}).value(node) == "dev"
    assert readable({"IsDev": False}).value(node) is None, "a value that is AWS::NoValue reads as None"
    assert readable({"IsDev": False}).value([node, "x"]) == ["x"]
    assert readable({"IsDev": False}).value({"a": node, "b": 1}) == {"b": 1}


def test_no_value_never_escapes_into_a_fallback() -> None:
    for node in ({"Fn::Select": [0, {"Ref": "AWS::NoValue"}]}, {"Fn::Split": [",", {"Ref": "AWS::NoValue"}]},
                 {"Fn::Join": ["", {"Ref": "AWS::NoValue"}]}, {"Fn::Base64": {"Ref": "AWS::NoValue"}}):  # fmt: skip
        assert NO_VALUE not in readable().value(node).values()
        json.dumps(readable().value(node))


def test_concrete_values() -> None:
    r = concrete()
    assert r.value({"Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/${!x}"}) == (
        "arn:aws:iot:eu-west-1:111122223333:topic/${x}"
    )
    assert r.value({"Fn::GetAtt": ["Role", "Arn"]}) == "arn:aws:iam::111122223333:role/r"
    assert r.value({"Ref": "Stage"}) == "prod"


def test_pathological_nesting_stays_as_written() -> None:
    node: Any = "x"
    for _ in range(200):
        node = {"Fn::Join": ["", [node]]}
    assert readable().value(node) is not None  # no recursion error, whatever it could not evaluate stays
