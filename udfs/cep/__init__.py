"""A FlinkCEP-style pattern library in plain Python: no PyFlink, no traffic knowledge.

`pattern` declares patterns (stages, quantifiers, contiguity, `within`, skip strategies),
`nfa.Matcher` matches them over events in order, and `buffer` orders out-of-order events by
event time until a watermark passes. Events are plain dicts; the traffic patterns that use
this library live in `udfs.patterns`. See docs/cep.md.
"""

from udfs.cep.buffer import BufferedMatcher, DictStore, PendingStore
from udfs.cep.nfa import Match, Matcher, Timeout
from udfs.cep.pattern import (
    Contiguity,
    Event,
    MatchedSoFar,
    Pattern,
    PatternError,
    SkipStrategy,
    WithinType,
    no_skip,
    skip_past_last_event,
    skip_to_first,
    skip_to_last,
    skip_to_next,
)

__all__ = [
    "BufferedMatcher",
    "Contiguity",
    "DictStore",
    "Event",
    "Match",
    "MatchedSoFar",
    "Matcher",
    "Pattern",
    "PatternError",
    "PendingStore",
    "SkipStrategy",
    "Timeout",
    "WithinType",
    "no_skip",
    "skip_past_last_event",
    "skip_to_first",
    "skip_to_last",
    "skip_to_next",
]
