"""Numbers and quality: statistics of a period, automated inspection (质检) of conversations."""

from kefu.reports.flags import FlagStore, QaWorker, inspect_period
from kefu.reports.qa import RULES, Evidence, Flag, QaRules, count_sentences, inspect
from kefu.reports.records import ConversationRecord, load_records, load_transcript
from kefu.reports.stats import AgentRow, Bucket, Percentiles, ShopStats, compute_stats, percentile

__all__ = [
    "RULES",
    "AgentRow",
    "Bucket",
    "ConversationRecord",
    "Evidence",
    "Flag",
    "FlagStore",
    "Percentiles",
    "QaRules",
    "QaWorker",
    "ShopStats",
    "compute_stats",
    "count_sentences",
    "inspect",
    "inspect_period",
    "load_records",
    "load_transcript",
    "percentile",
]
