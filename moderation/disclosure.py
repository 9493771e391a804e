"""The disclosure guard (placeholder until the detectors land): asks about nothing yet."""
from __future__ import annotations

from moderation.checks import PUBLISH, Submission, Verdict, register


@register("disclosure", order=15)
def disclosure_check(sub: Submission) -> Verdict:
    return PUBLISH
