"""Recipes: the typed ``Recipe`` and the registry that finds packaged and user recipes."""

from hf_transfer.recipe.recipe import Recipe

__all__ = ["Recipe"]
