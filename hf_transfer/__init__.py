"""hf_transfer: transfer learning for NLP on the Hugging Face stack.

Importing the package is cheap (no torch): recipes, data sources, task settings and method settings.
Training lives in ``hf_transfer.run.train``; the command line in ``hf_transfer.cli``.
"""

from hf_transfer.base.errors import UserError
from hf_transfer.methods.freeze import FreezeSettings
from hf_transfer.methods.full import FullSettings
from hf_transfer.methods.ia3 import IA3Settings
from hf_transfer.methods.lora import LoraSettings
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.sources import DataSource, FileData, HubData, PackagedData
from hf_transfer.tasks.causal_lm import InstructionTuning
from hf_transfer.tasks.classification import TextClassification
from hf_transfer.tasks.multiple_choice import MultipleChoice
from hf_transfer.tasks.question_answering import QuestionAnswering
from hf_transfer.tasks.seq2seq import Seq2SeqGeneration
from hf_transfer.tasks.token_classification import TokenClassification

__version__ = "0.1.0"


def load_recipe(name_or_path: str) -> Recipe:
    """A packaged recipe by name, or a recipe .py / .yaml file."""
    from hf_transfer.recipe.registry import find_recipe

    return find_recipe(name_or_path)[0]


__all__ = [
    "DataSource",
    "FileData",
    "FreezeSettings",
    "FullSettings",
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
