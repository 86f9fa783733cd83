"""Prometheus rule files: recording and alerting rules, evaluated in groups.

``rules`` reaches PromQL only through a query callable, the store only through
:class:`~vigil.storage.interface.Appendable`, and the notifier only through a
notify callable (see :class:`~vigil.rules.group.RuleContext`).
"""
