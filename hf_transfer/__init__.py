"""hf_transfer: transfer learning for NLP on the Hugging Face stack.

Importing the package is cheap (no torch): recipes, data sources, task settings and method settings.
Training lives in ``hf_transfer.train``; the command line in ``hf_transfer.cli``.
"""

from .errors import UserError
from .methods.freeze import FreezeSettings
from .methods.ia3 import IA3Settings
from .methods.lora import LoraSettings
from .recipe import Recipe
from .sources import DataSource, FileData, HubData, PackagedData
from .tasks.causal_lm import InstructionTuning
from .tasks.classification import TextClassification
from .tasks.multiple_choice import MultipleChoice
from .tasks.question_answering import QuestionAnswering
from .tasks.seq2seq import Seq2SeqGeneration
from .tasks.token_classification import TokenClassification

__version__ = "0.1.0"


def load_recipe(name_or_path: str) -> Recipe:
    """A packaged recipe by name, or a recipe .py / .yaml file."""
    from .registry import find_recipe

    return find_recipe(name_or_path)[0]


__all__ = [
    "DataSource",
    "FileData",
    "FreezeSettings",
    "HubData",
    "IA3Settings",
    "InstructionTuning",
    "LoraSettings",
    "MultipleChoice",
    "PackagedData",
    "QuestionAnswering",
    "Recipe",
    "Seq2SeqGeneration",
    "TextClassification",
    "TokenClassification",
    "UserError",
    "load_recipe",
]
