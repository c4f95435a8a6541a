"""Clinical entity extraction: ``Extractor(strategy).extract(note) -> Document`` (issue 3).

- ``pipeline``: the Extractor (span detector -> rule layer -> ICD-10-CM linking), batches.
- ``spans``: span detectors (the shipped ONNX token classifier); ``llm``: the generative one.
- ``chunks``: long notes in pieces with exact offsets; ``language``: the non-English warning.
- ``fhir``: the Document as a FHIR R4 Bundle.
"""

from bedside.extract.pipeline import STRATEGIES, Extractor, Outcome

__all__ = ["STRATEGIES", "Extractor", "Outcome"]
