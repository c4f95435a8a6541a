from bedside.runtime.base import (
    Backend,
    Capabilities,
    Constraint,
    Generation,
    GenerationParams,
    Message,
    TokenLogprob,
)
from bedside.runtime.service import Result, Runtime

__all__ = [
    "Backend", "Capabilities", "Constraint", "Generation", "GenerationParams", "Message", "Result",
    "Runtime", "TokenLogprob",
]
