"""The student's learning-curve figure: what it draws from a curves frame, and what it refuses."""

import io

import numpy as np
import pandas as pd
import pytest

from musicrec.synth.learning_curve import learning_curve_plot


def curves(held_out: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({"epoch": [0, 1, 2, 3], "loss": [np.nan, 2.3, 1.9, 1.6], "seconds": [0, 1, 1, 1]})
    if held_out:
        frame["held_out_r_at_1"] = [0.33, 0.5, 0.66, 0.66]
        frame["held_out_mrr"] = [0.5, 0.6, 0.73, 0.75]
    return frame


def test_draws_the_loss_of_trained_epochs_and_both_held_out_scores_with_chance():
    figure = learning_curve_plot(curves(), "student", {"held_out_r_at_1": 0.11, "held_out_mrr": 0.31})
    loss_ax, held_ax = figure.axes
    (loss_line,) = loss_ax.get_lines()
    assert list(loss_line.get_xdata()) == [1, 2, 3]  # epoch 0 has no training loss
    assert np.allclose(loss_line.get_ydata(), [2.3, 1.9, 1.6])
    labels = [line.get_label() for line in held_ax.get_lines()]
    assert labels == ["held-out R@1", "chance (held-out R@1)", "held-out MRR", "chance (held-out MRR)"]
    assert np.allclose(held_ax.get_lines()[0].get_ydata(), [0.33, 0.5, 0.66, 0.66])
    assert held_ax.get_lines()[1].get_ydata()[0] == pytest.approx(0.11)
    figure.savefig(io.BytesIO(), format="png")  # renders


def test_without_held_out_users_the_panel_says_so():
    figure = learning_curve_plot(curves(held_out=False), "student")
    assert not figure.axes[1].get_lines()
    assert any("no held-out users" in text.get_text() for text in figure.axes[1].texts)


def test_refuses_a_frame_without_the_curve_columns():
    with pytest.raises(ValueError, match=r"lack column\(s\) \['loss'\]"):
        learning_curve_plot(pd.DataFrame({"epoch": [0]}), "student")
    with pytest.raises(ValueError, match="empty"):
        learning_curve_plot(curves().iloc[0:0], "student")
