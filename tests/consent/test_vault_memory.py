"""A large sealed object (a likeness model) is held once as plaintext and once sealed, no more."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from consent.vault import vault_get, vault_put

SIZE = 24 * 1024 * 1024


@pytest.fixture
def model_weights() -> bytes:
    return os.urandom(SIZE)


def _peak_while(call):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sealing_and_storing_makes_one_sealed_copy(personas, model_weights, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    name, peak = _peak_while(lambda: vault_put(talent_id=personas.talent.id, object_ref="likeness_model:big",
                                               plaintext=model_weights, name="likeness/big.sealed"))
    assert peak < 1.25 * SIZE, f"sealing held {peak / SIZE:.2f} times the model"
    opened, peak = _peak_while(lambda: vault_get(talent_id=personas.talent.id, object_ref="likeness_model:big",
                                                 name=name))
    assert opened == model_weights
    assert peak < 2.25 * SIZE, f"opening held {peak / SIZE:.2f} times the model"  # the sealed bytes and the plaintext
