import numpy as np
import pytest

from musicrec.users.aligner_training import AlignerTask, aligner_table, train_aligner
from musicrec.recommenders.training import LoopSettings, train
from users_world import ALIGNER, aligner, single_thread, world  # noqa: F401 (fixture)


def test_the_aligner_beats_a_random_model_and_stays_below_the_ceiling():
    table = aligner_table(world(), aligner(), seed=0).set_index(["model", "users"])
    for users in ("train", "test"):
        trained, random, ceiling = (table.loc[(m, users), "auc"] for m in ("aligner", "random", "ceiling"))
        assert trained > random + 0.15
        assert trained < ceiling + 0.02
    recovery = table.loc[("aligner", "train")]
    assert recovery["recovery_cosine"] > recovery["recovery_chance"] + 0.2


class Interrupt(RuntimeError):
    pass


def test_an_interrupted_aligner_resumes_to_the_same_weights(tmp_path):
    options = ALIGNER.__class__(**{**ALIGNER.__dict__, "max_epochs": 3, "patience": 10, "fold_in_steps": 5})
    straight = train_aligner(world(), options, seed=1)

    def stop(epoch, step):
        if epoch == 2 and step == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_aligner(world(), options, seed=1, state_dir=tmp_path, on_step=stop)
    resumed = train_aligner(world(), options, seed=1, state_dir=tmp_path)
    assert resumed.training.resumed_from_epoch == 1
    np.testing.assert_allclose(resumed.user_vectors, straight.user_vectors, atol=1e-6)
    np.testing.assert_allclose(resumed.song_vectors, straight.song_vectors, atol=1e-6)
    # a finished state: loads the best weights without training again
    again = train_aligner(world(), options, seed=1, state_dir=tmp_path)
    assert again.training.trained_epochs == 0
    np.testing.assert_allclose(again.user_vectors, straight.user_vectors, atol=1e-6)
