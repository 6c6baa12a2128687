"""Model families: how each kind of video model loads, renders, takes a likeness LoRA and names itself.

A deployment picks one family by name (`family_for`) and gives it the paths of its weights.
"""

from __future__ import annotations

from generation.pipeline.families.animatediff import AnimateDiffSD15
from generation.pipeline.families.base import (
    ModelFamily,
    ModelPaths,
    UnknownFamily,
    UnsupportedMode,
)
from generation.pipeline.families.wan import Wan, WanSpec
from generation.pipeline.loading import LoadedModel, ModelIdentity

FAMILIES: dict[str, ModelFamily] = {family.name: family for family in (AnimateDiffSD15(), Wan())}


def family_for(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(FAMILIES))
        raise UnknownFamily(f"unknown model family {name!r}; the families are: {known}") from None


__all__ = ["FAMILIES", "LoadedModel", "ModelFamily", "ModelIdentity", "ModelPaths", "UnknownFamily", "UnsupportedMode", "WanSpec",
           "family_for"]
