"""Reading the synthetic world and the aligner's vectors back (shared by the users stage's scripts)."""

import json

import numpy as np

from musicrec.recommenders.options import options_from_mapping
from musicrec.users.simulation import SimulationOptions, world_from_arrays


def read_world(npz: str, sidecar: str):
    """(world, sidecar dict) from simulate_users' outputs."""
    with open(sidecar) as handle:
        meta = json.load(handle)
    options = options_from_mapping(SimulationOptions, meta["options"], sidecar)
    with np.load(npz) as arrays:
        return world_from_arrays(arrays, options), meta
