"""``parse_key_values``: the one ``key=value`` parser behind ``--set`` and ``--config``."""

from __future__ import annotations

import pytest

from o1agent.errors import ConfigError, UserError
from o1agent.evaluation.datasets import parse_config
from o1agent.options import coerce_value, parse_key_values, split_items


def test_values_follow_one_rule() -> None:
    assert parse_key_values("k=3,t=0.5,on=true,off=false,none=null,name=abc, spaced = two words ") == {
        "k": 3,
        "t": 0.5,
        "on": True,
        "off": False,
        "none": None,
        "name": "abc",
        "spaced": "two words",
    }
    # Not JSON: kept as text (the consumer's validation decides what "True" means).
    assert coerce_value(" True ") == "True" and coerce_value('"quoted, text"') == "quoted, text"
    assert parse_key_values("expr=a=b") == {"expr": "a=b"}  # the first '=' splits


def test_commas_inside_brackets_and_quotes_do_not_split() -> None:
    assert split_items('a=[1,2],b={"x": 1, "y": 2},c="p,q",d=4') == [
        "a=[1,2]",
        'b={"x": 1, "y": 2}',
        'c="p,q"',
        "d=4",
    ]
    assert parse_key_values('weights=[0.5,0.5],label="a,b"') == {"weights": [0.5, 0.5], "label": "a,b"}


def test_repeated_option_reads_in_order() -> None:
    assert parse_key_values(["k=2,width=3", "k=4", "", "beam.k=5"]) == {"k": 4, "width": 3, "beam.k": 5}
    assert parse_key_values(None) == {} and parse_key_values("") == {} and parse_key_values(" , ") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("min_terms", r"--config expects key=value\[,key=value\], got 'min_terms'"),
        ("a=1,oops", "got 'oops'"),
        ("=3", "item '=3' has no key"),
    ],
)
def test_bad_items_are_config_errors_naming_the_item(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_key_values(text, option="--config")
    assert isinstance(info.value, UserError)


def test_eval_config_and_solve_set_agree() -> None:
    text = "min_terms=2,max_terms=3, allow_negation=false,name= abc"
    assert (
        parse_config(text)
        == parse_key_values(text)
        == {
            "min_terms": 2,
            "max_terms": 3,
            "allow_negation": False,
            "name": "abc",
        }
    )


def test_solve_set_bad_item_exits_2_naming_it() -> None:
    from typer.testing import CliRunner

    from o1agent.cli import app

    res = CliRunner().invoke(app, ["solve", "What is 1+1?", "--set", "k=2,width"])
    assert res.exit_code == 2, res.output
    assert "--set expects key=value" in " ".join(res.output.split()) and "'width'" in res.output
