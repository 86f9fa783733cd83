"""Alert templates: the per-rule parse cache gives what a fresh parse gives."""

from __future__ import annotations

import threading
from collections.abc import Callable

from vigil.model import Labels
from vigil.rules.templating import AlertTemplateData, RuleTemplates, check, expand

DATA = AlertTemplateData(
    Labels={"instance": "a:9090", "job": "api"},
    ExternalLabels={"dc": "eu"},
    ExternalURL="http://vigil:9090",
    Value=0.123456,
)

TEXTS = [
    "plain text",
    "{{ $labels.instance }} of {{ $labels.job }} at {{ $value | humanize }}",
    "{{ $externalLabels.dc }} {{ $externalURL }} {{ pathPrefix }}",
    "{{ $labels.missing }}|",
    "{{ index $labels 1 2 }}",  # fails when executed
    "{{ if }}",  # does not parse
    '{{ with query "up" }}{{ . | first | value }}{{ end }}',
]


def _query(value: float) -> Callable[[str], list[tuple[Labels, float]]]:
    def query(q: str) -> list[tuple[Labels, float]]:
        return [(Labels(__name__="up"), value)] if q == "up" else []

    return query


def test_cached_expansion_equals_a_fresh_parse() -> None:
    templates = RuleTemplates("__alert_X", external_url="http://vigil:9090/prefix")
    q = _query(3.0)
    for _ in range(2):  # the second round runs on the cached parses
        for text in TEXTS:
            want = expand(text, "__alert_X", DATA, query=q, external_url="http://vigil:9090/prefix")
            assert templates.expand(text, DATA, query=q) == want, text
    assert templates.expand("{{ if }}", DATA).startswith("<error expanding template: ")
    assert check("{{ if }}", "__alert_X") is not None


def test_query_is_bound_per_expansion() -> None:
    templates = RuleTemplates("__alert_X")
    text = '{{ with query "up" }}{{ . | first | value }}{{ end }}'
    assert templates.expand(text, DATA, query=_query(1.0)) == "1"
    assert templates.expand(text, DATA, query=_query(2.0)) == "2"
    # without a query function the template fails as the uncached expansion does
    assert templates.expand(text, DATA) == expand(text, "__alert_X", DATA)
    assert templates.expand(text, DATA).startswith("<error expanding template: ")


def test_expansions_from_many_threads() -> None:
    templates = RuleTemplates("__alert_X")
    text = "{{ $labels.instance }}={{ $value }}"
    results: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        data = AlertTemplateData(Labels={"instance": str(i)}, Value=float(i))
        for _ in range(50):
            out = templates.expand(text, data)
            with lock:
                results.append(out)
            assert out == f"{i}={i}"

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200
