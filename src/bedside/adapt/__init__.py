"""Adaptation: turn a base small model plus task data into a better small model the local engine serves.

So far: LoRA supervised fine-tuning (``lora``) on JSONL chat records or an evaluation task's data
(``records``, ``features``), exported as a merged GGUF for llama.cpp (``gguf_export``) and a merged
HF checkpoint for transformers, with provenance next to it (``run``). Heavy libraries (torch,
transformers, peft) load only when a job runs. See docs/adaptation.md.
"""

from bedside.adapt.lora import LoraParams
from bedside.adapt.run import LoraJob, run_lora

__all__ = ["LoraJob", "LoraParams", "run_lora"]
