"""Every error class lives in ``o1agent.errors``, keeps its base, and stays importable where it
was raised before."""

from __future__ import annotations

import pytest

from o1agent import errors


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("CheckpointError", errors.UserError),
        ("UnknownToolError", errors.ConfigError),
        ("CalculatorError", errors.UserError),
        ("LearnError", errors.ConfigError),
        ("ExportError", errors.LearnError),
        ("ServerError", errors.O1AgentError),
    ],
)
def test_moved_errors_keep_their_base(name: str, base: type) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, base) and cls.__module__ == "o1agent.errors"


def test_old_homes_re_export_the_same_classes() -> None:
    from o1agent.learn import export, model
    from o1agent.tools import calculator, registry

    assert calculator.CalculatorError is errors.CalculatorError
    assert registry.UnknownToolError is errors.UnknownToolError
    assert model.LearnError is errors.LearnError
    assert export.ExportError is errors.ExportError
    with pytest.raises(errors.CalculatorError, match="division by zero"):
        calculator.calculate("1/0")
    with pytest.raises(errors.UnknownToolError, match="unknown tool 'nope'"):
        registry.make_tools(["nope"])


def test_server_error_carries_status_type_and_code() -> None:
    e = errors.ServerError(413, "request too large", code="request_too_large")
    assert (e.status, e.type, e.code, str(e)) == (
        413,
        "invalid_request_error",
        "request_too_large",
        "request too large",
    )
    auth = errors.ServerError(401, "bad key", type_="authentication_error")
    assert auth.type == "authentication_error" and auth.code is None
    assert not isinstance(e, errors.UserError)  # an HTTP failure, not a bad library call


def test_every_error_class_is_defined_in_errors() -> None:
    # No module of the library defines an exception class of its own.
    import ast
    from pathlib import Path

    root = Path(errors.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception")) for b in node.bases
            ):
                found.append(f"{path.relative_to(root)}:{node.name}")
    assert found == []
