"""Rule-based clinical extraction: sections, sentences, ConText traits, sig/lab/social patterns.

Entry points:
- :class:`RulePipeline` — ``RulePipeline()(text, entities=None) -> Document``: the whole rule layer,
  optionally around another detector's entity spans; ``traits_for(text, entities)`` runs ConText alone.
- :class:`Document` and its models (``Entity``, ``Attribute``, ``Trait``): the output schema of issue 3,
  ``to_dict()`` / ``to_json(style="bedside"|"comprehend")``.
- :class:`Span`: a piece of the input, ``text == input[begin:end]``.
- :class:`Sectionizer`, :class:`SentenceSplitter`, :class:`ConText`: the layers, usable alone.

The knowledge (headings, triggers, lexicons, patterns) is JSON under ``bedside/resources/clinical``;
pass another folder of the same files as ``RulePipeline(folder)`` to change it without code.
"""

from bedside.clinical.context import ConText
from bedside.clinical.pipeline import RulePipeline
from bedside.clinical.schema import Attribute, Concept, Document, Entity, Section, Trait
from bedside.clinical.sections import Sectionizer
from bedside.clinical.sentences import SentenceSplitter
from bedside.clinical.spans import Span

__all__ = [
    "Attribute", "Concept", "ConText", "Document", "Entity", "RulePipeline", "Section", "Sectionizer",
    "SentenceSplitter", "Span", "Trait",
]
