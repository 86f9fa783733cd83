"""Go text/template for Python: the subset Prometheus and Alertmanager templates use.

Parse once, execute many times::

    t = Template("summary", prometheus_funcs()).parse("{{ $value | humanize }}")
    t.execute({"Value": 1234.5})

See docs/templates.md for the features, the functions and what differs from Go.
"""

from vigil.gotmpl.errors import TemplateError, TemplateExecError
from vigil.gotmpl.gotime import GoTime
from vigil.gotmpl.template import MissingKey, Template, expand
from vigil.gotmpl.values import NO_VALUE

__all__ = [
    "NO_VALUE",
    "GoTime",
    "MissingKey",
    "Template",
    "TemplateError",
    "TemplateExecError",
    "expand",
]
