"""The error-correcting code both watermark versions share: a rate-1/3, constraint-length-7
convolutional code with a zero tail, decoded by soft-decision Viterbi."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

CONSTRAINT = 7
GENERATORS = (0o133, 0o171, 0o165)


def coded_length(message_bits: int) -> int:
    """Number of coded bits for a message of ``message_bits`` bits (tail included)."""
    return (message_bits + CONSTRAINT - 1) * len(GENERATORS)


def bits_of(value: int, count: int) -> np.ndarray:
    """The ``count`` low bits of ``value``, most significant first."""
    return np.array([(value >> (count - 1 - i)) & 1 for i in range(count)], dtype=np.uint8)


def int_of(bits: np.ndarray) -> int:
    """The integer whose bits, most significant first, are ``bits``."""
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def encode(message: np.ndarray) -> np.ndarray:
    """Coded bits of ``message``: (len(message) + 6) * 3 of them."""
    state, out = 0, []
    for bit in np.concatenate([message, np.zeros(CONSTRAINT - 1, dtype=np.uint8)]):
        register = (int(bit) << (CONSTRAINT - 1)) | state
        out.extend((register & g).bit_count() & 1 for g in GENERATORS)
        state = register >> 1
    return np.array(out, dtype=np.uint8)


def viterbi(soft: np.ndarray) -> np.ndarray:
    """Maximum-correlation message for soft values of the coded bits (positive means bit 0)."""
    previous, branch_signs, input_bit = _trellis()
    rate = len(GENERATORS)
    steps = len(soft) // rate
    metric = np.full(len(previous), -np.inf)
    metric[0] = 0.0
    choices = np.zeros((steps, len(previous)), dtype=np.uint8)
    states = np.arange(len(previous))
    for step in range(steps):
        candidates = metric[previous] + branch_signs @ soft[step * rate:(step + 1) * rate]
        choice = np.argmax(candidates, axis=1)
        choices[step] = choice
        metric = candidates[states, choice]
    state, bits = 0, np.zeros(steps, dtype=np.uint8)
    for step in range(steps - 1, -1, -1):
        bits[step] = input_bit[state]
        state = previous[state, choices[step, state]]
    return bits[:steps - (CONSTRAINT - 1)]


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each next state: its two previous states, and the output signs of both branches."""
    states = 1 << (CONSTRAINT - 1)
    next_state = np.arange(states)
    bit = next_state >> (CONSTRAINT - 2)
    previous = np.stack([((next_state & (states // 2 - 1)) << 1) | x for x in (0, 1)], axis=1)
    registers = (bit[:, None] << (CONSTRAINT - 1)) | previous
    outputs = np.stack([_parity(registers & g) for g in GENERATORS], axis=-1)
    return previous, 1.0 - 2.0 * outputs.astype(np.float32), bit


def _parity(values: np.ndarray) -> np.ndarray:
    return np.array([int(x).bit_count() & 1 for x in values.ravel()], dtype=np.uint8).reshape(values.shape)
