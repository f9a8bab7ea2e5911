"""Exception chains: every exception a real trace names, outermost first."""

from __future__ import annotations

from bridge.rules.errortracking.chains import parse_chain
from tests.rules.support import compile_text, record, rule_file

PYTHON = """\
Traceback (most recent call last):
  File "app/pay.py", line 10, in charge
    card = cards[uid]
KeyError: 'u1'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "app/views.py", line 88, in checkout
    charge(uid)
  File "app/pay.py", line 12, in charge
    raise PaymentError("no card")
app.errors.PaymentError: no card"""

PYTHON_CAUSE = PYTHON.replace(
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)

JAVA = """\
com.acme.PaymentException: charge failed
\tat com.acme.Billing.charge(Billing.java:42)
\tat com.acme.Checkout.run(Checkout.java:10)
Caused by: java.io.IOException: stream closed
\tat com.acme.Gateway.send(Gateway.java:77)
\t... 3 more
Caused by: java.net.SocketTimeoutException: Read timed out
\tat java.net.SocketInputStream.read(SocketInputStream.java:150)
\t... 12 more"""

NODE = """\
TypeError: cart.total is not a function
    at checkout (/srv/app/checkout.js:41:17)
    at /srv/app/routes.js:12:5"""


def _summary(text: str) -> list[tuple[str, str, list[str]]]:
    return [
        (e.type, e.value, [str(f.get("function")) for f in e.frames])
        for e in parse_chain(text)
    ]


def test_a_python_chain_comes_out_raised_first():
    for text in (PYTHON, PYTHON_CAUSE):
        assert _summary(text) == [
            ("app.errors.PaymentError", "no card", ["checkout", "charge"]),
            ("KeyError", "'u1'", ["charge"]),
        ]


def test_a_python_message_over_several_lines_is_kept_whole():
    text = (
        "Traceback (most recent call last):\n"
        '  File "app/prices.py", line 88, in export\n'
        "    rows = session.execute(stmt).all()\n"
        "sqlalchemy.exc.OperationalError: canceling statement due to timeout\n"
        "[SQL: SELECT 1]"
    )
    assert _summary(text) == [
        (
            "sqlalchemy.exc.OperationalError",
            "canceling statement due to timeout\n[SQL: SELECT 1]",
            ["export"],
        )
    ]


def test_a_java_chain_comes_out_in_its_order():
    assert [(t, v) for t, v, _ in _summary(JAVA)] == [
        ("com.acme.PaymentException", "charge failed"),
        ("java.io.IOException", "stream closed"),
        ("java.net.SocketTimeoutException", "Read timed out"),
    ]


def test_a_node_error_is_one_exception_with_its_frames():
    assert _summary(NODE) == [
        ("TypeError", "cart.total is not a function", ["<anonymous>", "checkout"])
    ]


def test_a_trace_that_names_no_exception_gives_no_chain():
    assert parse_chain("goroutine 1 [running]:\nmain.f()\n\t/src/a.go:12 +0x1d") == []
    assert parse_chain("just a message") == []
    assert parse_chain("") == []


def test_an_exception_rule_sends_the_whole_chain():
    text = rule_file(
        event="",
        extra="exception: {type: '{kind}', value: '{msg}', stacktrace: {field: stack}}",
    )

    (event,) = compile_text(text).apply(
        record({"kind": "X", "msg": "m", "stack": JAVA})
    )

    items = event.properties["$exception_list"]
    assert [item["type"] for item in items] == [
        "com.acme.PaymentException",
        "java.io.IOException",
        "java.net.SocketTimeoutException",
    ]
    assert [item["mechanism"] for item in items] == [
        {"handled": True, "synthetic": False, "type": "generic"},
        {"handled": True, "synthetic": False, "type": "chained"},
        {"handled": True, "synthetic": False, "type": "chained"},
    ]
    assert all(item["stacktrace"]["frames"] for item in items)


def test_without_a_named_exception_the_rules_type_and_value_stay():
    text = rule_file(
        event="",
        extra="exception: {type: '{kind}', value: '{msg}', stacktrace: {field: stack}}",
    )
    fields = {"kind": "Timeout", "msg": "slow", "stack": "main.f()\n\t/a.go:1 +0x1"}

    (event,) = compile_text(text).apply(record(fields))

    (item,) = event.properties["$exception_list"]
    assert (item["type"], item["value"], item["mechanism"]["synthetic"]) == (
        "Timeout",
        "slow",
        True,
    )
