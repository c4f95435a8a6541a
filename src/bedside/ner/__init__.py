"""Clinical entity spans: corpus readers, a trained token classifier, its ONNX artifact and scoring.

Layering, so that inference never needs torch:
- ``data``, ``brat``, ``labels``, ``recipe``: corpora as :class:`~bedside.ner.data.Example` (text + spans).
- ``tokens``: words and subwords with character offsets (``tokenizers`` only), label alignment, BIO decoding.
- ``infer``: the ONNX artifact (``onnxruntime`` + ``tokenizers`` + ``numpy``).
- ``metrics``, ``evaluate``: entity-level strict/partial scores (``nervaluate``).
- ``train``, ``export``: torch/transformers, only for ``bedside train ner``.
"""

from bedside.ner.data import Example, Span

__all__ = ["Example", "Span"]
