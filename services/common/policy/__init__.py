"""Province policy packs (分层分级分类监管规则): the shared kernel's copy of each province's rules.

One YAML file per province in ``packs/``, validated when it is loaded (``schema``: what a pack may say;
``loader``: reading, ``extends``, and the file and line of the first thing wrong). Every service that needs a
province's numbers reads them here, so none imports another service's package for them.
"""

from services.common.policy.loader import PACKS_DIR, PackSet, load_packs, packs_in
from services.common.policy.schema import (
    CLASS_NAMES,
    CLASS_ORDER,
    LEVELS,
    SIGNAL_KINDS,
    TIERS,
    BlueprintItem,
    ClassRule,
    CombinationRule,
    Count,
    Deadlines,
    Escalation,
    ExamPolicy,
    Level,
    Locking,
    Manual,
    Pack,
    PackError,
    Rule,
    SizeTable,
    SupervisionClass,
    Thresholds,
    Tiers,
)

__all__ = [
    "CLASS_NAMES",
    "CLASS_ORDER",
    "LEVELS",
    "PACKS_DIR",
    "SIGNAL_KINDS",
    "TIERS",
    "BlueprintItem",
    "ClassRule",
    "CombinationRule",
    "Count",
    "Deadlines",
    "Escalation",
    "ExamPolicy",
    "Level",
    "Locking",
    "Manual",
    "Pack",
    "PackError",
    "PackSet",
    "Rule",
    "SizeTable",
    "SupervisionClass",
    "Thresholds",
    "Tiers",
    "load_packs",
    "packs_in",
]
