"""Against the real thing: Prometheus's own ``/api/v1/format_query`` (the Debian 2.42 binary).

For every query Prometheus formats, our tree must equal the tree of its
output, and our text must equal its text wherever 2.42 and 3.x print alike
(one line, no float in exponent form: 2.42 prints ``1e+09`` where 3.x prints
``1000000000``). Parse errors shared by both versions must have the same
message and position. Queries that only 3.x accepts are skipped by 2.42's
refusal, and counted.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.promql.parser._shape import key
from tests.promql.parser.test_conformance_corpus import CONFORMANCE, _evals
from vigil.promql.parser import ParseError, ParseOptions, parse_expr, to_string

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary")

# Errors both 2.42 and our 3.x parser report identically (message and line:col).
SHARED_ERRORS = [
    "1 +",
    "*1",
    "1 )",
    "(1",
    "{",
    "}",
    "foo bar",
    "1 !~ 1",
    'foo{a="b",,}',
    "foo{a}",
    "foo{a=}",
    'foo{a="b" c="d"}',
    'foo{{a="b"}}',
    "{}",
    '{a=~".*"}',
    'foo{__name__="bar"}',
    "rate(foo)",
    "rate(foo[5m], 1)",
    "unknown_fn(foo)",
    "sum()",
    "topk(foo)",
    'topk("a", foo)',
    "sum by foo (bar)",
    "sum by (foo bar)",
    "sum by (a:b) (bar)",
    "sum(foo) by (a) by (b)",
    "1 and 1",
    "1 == 1",
    "1 + bool 2",
    "foo and on(a) group_left bar",
    "foo + on(a) group_left(a) bar",
    "1 + on(a) foo",
    "foo[5m] + 1",
    '-"a"',
    "foo[5m][5m]",
    "(foo)[5m]",
    "foo offset 5m[5m]",
    "foo @ 10 [5m]",
    "sum(foo) offset 5m",
    "foo offset 5m offset 1m",
    "foo @ 1 @ 2",
    "foo @ bar",
    "foo @ Inf",
    "foo[5m:1m:1m]",
    "foo[5m",
    "foo[1.5h]",
    '"unterminated',
    "'a\\qb'",
    '"\\xZZ"',
    "`raw",
    'label_replace(foo, "a", "b", "c")',
    "label_join(foo)",
    "round(foo, 1, 2)",
    'vector("a")',
    "histogram_quantile(foo, bar)",
    "foo bool bar",
    "sum(foo,)",
    'foo{a="b"} {c="d"}',
    "on(foo)",
    "1 +  # comment",
    "foo\n  + bar baz",
]

EXTRA_QUERIES = [
    "sum(rate(x[5m]))by(job)",
    "a+on(x)group_left(y)b",
    "a*ignoring(x)group_right b",
    "x atan2 y ^ 2 ^ -1",
    "-2^2",
    "- - foo",
    '{__name__="foo",a="1"}',
    'foo{a="\\xff\\u00e9\\n\\"\\\\"}',
    "foo offset -90m",
    "foo[1h:] @ start() offset 1w",
    "count_values('v', x) unless on() y",
    "1 < bool 2 or 3",
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert PROMETHEUS is not None
    work: Path = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text("global: {}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=promql-at-modifier,promql-negative-offset",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _format(url: str, query: str) -> tuple[bool, str]:
    data = urllib.parse.urlencode({"query": query}).encode()
    try:
        with urllib.request.urlopen(url + "/api/v1/format_query", data, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as err:
        body = json.load(err)
    if body["status"] == "success":
        return True, body["data"]
    return False, body["error"].split('"query": ', 1)[1]


_EXPONENT = re.compile(r"\d[eE][+-]\d")


def test_formatting_matches_prometheus(prometheus: str) -> None:
    queries = list(EXTRA_QUERIES)
    if CONFORMANCE.is_dir():
        queries += [ev.expr for ev in _evals()]
    queries = list(dict.fromkeys(queries))
    options = ParseOptions(enable_experimental_functions=True)
    same_text = same_tree = refused = 0
    for query in queries:
        ok, text = _format(prometheus, query)
        if not ok:
            refused += 1
            continue
        ours = parse_expr(query, options)
        assert key(parse_expr(text, options)) == key(ours), query
        same_tree += 1
        if "\n" not in text and not _EXPONENT.search(text):
            assert to_string(ours) == text, query
            same_text += 1
    print(
        f"\nformat_query: {same_tree} trees equal, {same_text} texts equal, {refused} refused by 2.42"
    )
    assert same_tree > 1000
    assert same_text > 1000


@pytest.mark.parametrize("query", SHARED_ERRORS)
def test_errors_match_prometheus(prometheus: str, query: str) -> None:
    ok, text = _format(prometheus, query)
    assert not ok
    with pytest.raises(ParseError) as info:
        parse_expr(query)
    assert str(info.value) == text
