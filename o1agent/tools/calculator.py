"""``calculate``: a safe arithmetic evaluator for the ``calc`` tool.

What it is: an AST walker over a whitelist — numbers, ``+ - * / // % **``, unary ``+ -``,
parentheses, and a few functions (``sqrt abs round min max floor ceil gcd lcm factorial``) and
constants (``pi e``). Exact where it can be: ``/`` on integers gives a ``Fraction`` that is printed
as an integer when whole ("7/7" → "1") and as a decimal otherwise, so a model gets "0.5", not
"1/2". It bounds exponents, factorials and result sizes so no input can hang or exhaust memory.

What it is not: ``eval``. Names, attributes, calls to anything else, subscripts, comprehensions,
lambdas and strings are refused with a ``CalculatorError`` naming what was refused.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

# Defined with every other error in o1agent.errors; importable from here too.
from ..errors import CalculatorError as CalculatorError

Number = int | float | Fraction

MAX_EXPONENT = 10_000
MAX_DIGITS = 10_000
MAX_FACTORIAL = 1_000
MAX_LENGTH = 2_000


def _to_int(x: Number, what: str) -> int:
    if isinstance(x, int):
        return x
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x)
    if isinstance(x, float) and x.is_integer():
        return int(x)
    raise CalculatorError(f"{what} needs an integer, got {_format(x)}")


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculatorError("sqrt of a negative number")
    if isinstance(x, int) or (isinstance(x, Fraction) and x.denominator == 1):
        r = math.isqrt(int(x))
        if r * r == int(x):
            return r
    return math.sqrt(x)


def _factorial(x: Number) -> int:
    n = _to_int(x, "factorial")
    if n < 0 or n > MAX_FACTORIAL:
        raise CalculatorError(f"factorial is limited to 0..{MAX_FACTORIAL}, got {n}")
    return math.factorial(n)


def _round(x: Number, nd: Number | None = None) -> Number:
    if nd is None:
        return round(x)
    return round(x, _to_int(nd, "round's digits"))


_FUNCS: dict[str, Callable[..., Any]] = {
    "sqrt": _sqrt,
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "floor": lambda x: math.floor(x),
    "ceil": lambda x: math.ceil(x),
    "gcd": lambda a, b: math.gcd(_to_int(a, "gcd"), _to_int(b, "gcd")),
    "lcm": lambda a, b: math.lcm(_to_int(a, "lcm"), _to_int(b, "lcm")),
    "factorial": _factorial,
    "log": lambda x: math.log(x),
    "exp": lambda x: math.exp(x),
}
_CONSTS: dict[str, Number] = {"pi": math.pi, "e": math.e}


def _check_size(x: Number) -> Number:
    if isinstance(x, int) and x.bit_length() > MAX_DIGITS * 3.33:
        raise CalculatorError(f"result has more than {MAX_DIGITS} digits")
    if (
        isinstance(x, Fraction)
        and (x.numerator.bit_length() + x.denominator.bit_length()) > MAX_DIGITS * 3.33
    ):
        raise CalculatorError(f"result has more than {MAX_DIGITS} digits")
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        raise CalculatorError("result is not a finite number")
    return x


def _pow(a: Number, b: Number) -> Number:
    if isinstance(b, float) and not b.is_integer():
        if a < 0:
            raise CalculatorError("fractional power of a negative number")
        return float(a) ** b
    if isinstance(b, Fraction) and b.denominator != 1:
        if a < 0:
            raise CalculatorError("fractional power of a negative number")
        return float(a) ** float(b)
    n = int(b)
    if abs(n) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {n} is too large (limit {MAX_EXPONENT})")
    # |a|^n with a huge base still explodes: estimate the digits before computing.
    if isinstance(a, int | Fraction) and a not in (0, 1, -1):
        digits = abs(n) * math.log10(max(abs(Fraction(a).numerator), abs(Fraction(a).denominator), 2))
        if digits > MAX_DIGITS:
            raise CalculatorError(
                f"result of the power would have about {digits:.0f} digits (limit {MAX_DIGITS})"
            )
    if n < 0:
        if a == 0:
            raise CalculatorError("division by zero (0 to a negative power)")
        return Fraction(1) / Fraction(a) ** -n if not isinstance(a, float) else a**n
    return a**n


def _div(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("division by zero")
    if isinstance(a, float) or isinstance(b, float):
        return a / b
    return Fraction(a) / Fraction(b)


def _binop(op: ast.operator, a: Number, b: Number) -> Number:
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_DIGITS * 3.33:
            raise CalculatorError(f"result has more than {MAX_DIGITS} digits")
        return a * b
    if isinstance(op, ast.Div):
        return _div(a, b)
    if isinstance(op, ast.FloorDiv):
        if b == 0:
            raise CalculatorError("division by zero")
        return a // b
    if isinstance(op, ast.Mod):
        if b == 0:
            raise CalculatorError("modulo by zero")
        return a % b
    if isinstance(op, ast.Pow):
        return _pow(a, b)
    raise CalculatorError(f"operator {type(op).__name__} is not allowed")


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculatorError(f"only numbers are allowed, got {node.value!r}")
        return node.value
    if isinstance(node, ast.BinOp):
        return _check_size(_binop(node.op, _eval(node.left), _eval(node.right)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Name):
        if node.id in _CONSTS:
            return _CONSTS[node.id]
        raise CalculatorError(
            f"unknown name {node.id!r}: only numbers, operators and {sorted(_FUNCS)} are allowed"
        )
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise CalculatorError(f"function {name!r} is not allowed: use one of {sorted(_FUNCS)}")
        if node.keywords:
            raise CalculatorError("keyword arguments are not allowed")
        args = [_eval(a) for a in node.args]
        try:
            return _check_size(_FUNCS[node.func.id](*args))
        except CalculatorError:
            raise
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise CalculatorError(f"{node.func.id}: {exc}") from None
    raise CalculatorError(f"{type(node).__name__} is not allowed in a calculation")


def _format(x: Any) -> str:
    if isinstance(x, Fraction):
        if x.denominator == 1:
            return str(x.numerator)
        f = float(x)
        return repr(int(f)) if f.is_integer() else _format(f)
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e16:
            return str(int(x))
        return repr(round(x, 12)) if abs(x) >= 1e-6 else repr(x)
    return str(x)


def _normalise(expr: str) -> str:
    expr = expr.strip().strip("`").strip()
    m = re.fullmatch(r"(?:calc|calculate)\s*\((.*)\)", expr, flags=re.IGNORECASE | re.DOTALL)
    if m:
        expr = m.group(1).strip()
    # What models write for arithmetic: ×, ÷, −, ^, thousands separators, "= ?" at the end.
    expr = expr.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    if not re.search(r"[A-Za-z]", expr):  # "1,234" is a number; in "max(3,100)" the comma separates
        expr = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expr)
    expr = re.sub(r"=\s*+(?:\?\s*+)?$", "", expr).strip()  # possessive: no quadratic backtracking
    # "15 * 43 = 625": small models write the result they expect inside the call. Evaluate the
    # expression and ignore the claim; the observation then shows the true value.
    if expr.count("=") == 1 and "==" not in expr:
        lhs, rhs = (side.strip() for side in expr.split("="))
        if lhs and re.search(r"[-+*/%]|\*\*", lhs.lstrip("-")):
            expr = lhs
        elif rhs:
            expr = rhs
    return expr


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression and return the result as text, e.g. ``"37*48+12"`` →
    ``"1788"``. Raises ``CalculatorError`` for anything that is not bounded arithmetic."""
    if not isinstance(expression, str):
        raise CalculatorError(f"expression must be a string, got {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise CalculatorError(f"expression is longer than {MAX_LENGTH} characters")
    expr = _normalise(expression)
    if not expr:
        raise CalculatorError("empty expression")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"not a valid expression: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise CalculatorError(f"not a valid expression: {exc}") from None
    try:
        return _format(_eval(tree))
    except CalculatorError:
        raise
    except RecursionError:
        raise CalculatorError("expression is nested too deeply") from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise CalculatorError(f"{type(exc).__name__}: {exc}") from None
