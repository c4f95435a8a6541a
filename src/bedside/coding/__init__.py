"""ICD-10-CM concept linking for condition mentions (Comprehend Medical's InferICD10CM, on-premise).

    linker = default_linker()
    linker.link("type 2 diabetes mellitus with hyperglycemia")   # [Concept(code="E11.65", ...), ...]
    doc = link_document(doc, note_text, linker)                  # fills icd10cm_concepts

Codes come from the official tabular list in ``simple-icd-10-cm``; abbreviations and word knowledge
from ``bedside/resources/coding/``. The lexical path needs no model and no torch.
"""

from bedside.coding.icd10 import Icd10Linker, default_linker, link_document

__all__ = ["Icd10Linker", "default_linker", "link_document"]
