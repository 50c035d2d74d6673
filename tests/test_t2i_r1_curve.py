"""The reward-hacking figure: the training reward beside the evaluator's score, with the held-out
compositions' prompts (which no GRPO prompt holds) drawn apart."""

from PIL import Image

from reasongen.methods.t2i_r1.curve import plot_curves, unseen


def test_unseen_compositions_are_drawn_apart(tmp_path):
    def summary(overall, held):
        return {"overall": overall, "compositions": {"seen": {"overall": overall}, "unseen": {"overall": held}}}

    log = [{"step": 10, "reward": 0.4}, {"step": 20, "reward": 0.6}]
    runs = {"both": {"log": log, "scores": {0: summary(0.2, 0.1), 20: summary(0.3, 0.12)}},
            "no split": {"log": log, "scores": {0: {"overall": 0.2}}}}  # fmt: skip
    assert unseen(runs["both"]["scores"][20]) == 0.12 and unseen({"overall": 0.2}) is None
    out = plot_curves(runs, tmp_path / "curves.png")
    import matplotlib.pyplot as plt

    assert Image.open(out).size[0] > 600 and not plt.get_fignums()  # drawn and closed
