"""Scraping: targets from discovery and relabelling, one loop per target.

This package turns a :class:`vigil.config.ScrapeConfig` into targets
(:mod:`~vigil.scrape.discovery`, :mod:`~vigil.scrape.targets`,
:mod:`~vigil.scrape.relabel`) and scrapes them into a storage ``Appendable``.
It reaches storage only through :mod:`vigil.storage`'s interface.
"""

from vigil.scrape.discovery import Discovery, FileDiscovery, TargetGroup, static_groups
from vigil.scrape.relabel import relabel
from vigil.scrape.targets import DroppedTarget, Target, targets_from_group

__all__ = [
    "Discovery",
    "DroppedTarget",
    "FileDiscovery",
    "Target",
    "TargetGroup",
    "relabel",
    "static_groups",
    "targets_from_group",
]
