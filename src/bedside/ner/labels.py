"""Bedside entity categories, how corpus entity types map onto them, and the BIO label set."""

from __future__ import annotations

import re

# The categories the extraction schema knows (issue 3). A model may be trained on any subset.
CATEGORIES = (
    "MEDICAL_CONDITION",
    "MEDICATION",
    "TEST_TREATMENT_PROCEDURE",
    "ANATOMY",
    "TIME_EXPRESSION",
    "PROTECTED_HEALTH_INFORMATION",
    "BEHAVIORAL_ENVIRONMENTAL_SOCIAL",
)

# Corpus entity types (lower-cased) whose bedside category is unambiguous. A corpus whose tags carry
# another type needs an explicit FILE:CATEGORY; a type that is neither mapped nor forced is kept as
# written (upper-cased), so that e.g. JNLPBA can still be trained on its own types.
CORPUS_TYPES = {
    "disease": "MEDICAL_CONDITION",
    "diseaseclass": "MEDICAL_CONDITION",
    "specificdisease": "MEDICAL_CONDITION",
    "modifier": "MEDICAL_CONDITION",
    "compositemention": "MEDICAL_CONDITION",
    "problem": "MEDICAL_CONDITION",
    "chemical": "MEDICATION",
    "drug": "MEDICATION",
    "medication": "MEDICATION",
}

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_category(name: str) -> str:
    """A category name as given on the command line or in a recipe, validated."""
    if not _NAME.match(name):
        raise ValueError(f"invalid entity category '{name}' (letters, digits and _ only)")
    return name


def map_type(corpus_type: str, forced: str | None) -> str:
    """The bedside category for one corpus entity type."""
    if forced is not None:
        return forced
    return CORPUS_TYPES.get(corpus_type.lower(), corpus_type.upper())


def bio_labels(categories: list[str] | tuple[str, ...]) -> list[str]:
    """``O`` then ``B-X``, ``I-X`` for each category in the given (stable) order."""
    labels = ["O"]
    for cat in categories:
        labels += [f"B-{cat}", f"I-{cat}"]
    return labels
