"""De-identification of clinical text and FHIR R4 Bundles (HIPAA Safe Harbor classes).

    from bedside.deid import Deidentifier
    deid = Deidentifier("surrogate", key=keys.load_key(path))   # or "mask", "redact"
    result = deid(note_text, patient="123")                      # result.text, result.spans

- ``detect``: detectors (patterns, names, places, optional gazetteer and NER model), combined recall first
- ``transform`` / ``surrogates`` / ``dateshift`` / ``keys``: mask, redact, consistent surrogates, date shifts
- ``fhir``: Bundle de-identification and validation; ``physionet`` + ``evaluate``: gold data and scoring
"""

from bedside.deid.pipeline import Deidentifier, Result
from bedside.deid.spans import PhiSpan
from bedside.deid.transform import Mode

__all__ = ["Deidentifier", "Mode", "PhiSpan", "Result"]
