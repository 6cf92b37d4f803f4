"""Words on the page: the short answer, the longer explanation and one caption per chart
(keyed by the chart's name in dashboard.charts.CHARTS)."""
from __future__ import annotations

SHORT_ANSWER = """
**Short answer: no.** Both put zeros into a hidden layer, but they are different kinds of zeros.

- **ReLU's zeros are fixed by the input and the weights.** Show the same input twice and the same
  units are zero, in training and after deployment. That is what makes the network *non-linear*.
- **Dropout's zeros are random.** A new coin flip for every unit on every pass, only while training;
  at test time dropout is off. It makes the network *regularized*, not non-linear.
"""

EXPLANATION = r"""
#### Deterministic zeros vs random zeros
ReLU computes $\max(0, z)$: a unit is zero exactly when its input $z$ is $\le 0$. Same input and same
weights give the same zeros, every time, also after training. Dropout multiplies each unit by a random
mask (0 with probability $p$): the zeros change on every pass, even for the same input and weights,
and they exist only in training.

#### ReLU makes the network non-linear; dropout does not
ReLU is *piecewise linear*: a straight line with a kink at 0. Stacking such kinks lets a network bend
its decision boundary (its derivative is 1 for $z>0$ and 0 for $z<0$; at exactly $z=0$ it is taken as 0
by convention, as PyTorch does). Dropout cannot bend anything: at test time it is switched off, and
during training the surviving units are scaled by $1/(1-p)$ so their average stays the same. A *linear*
network with dropout is therefore still a linear function at test time: a straight boundary
(see "linear + dropout 0.5").

#### Dropout regularizes; ReLU by itself does not
Because every pass trains a different random sub-network, no unit can rely on particular others,
which usually **narrows the gap** between training and validation loss. ReLU alone adds no such noise:
its zero pattern is fixed, so it does nothing against overfitting.

#### A dead ReLU is not a dropped unit
A ReLU unit whose input is negative for *every* training example outputs 0 always and gets zero
gradient, so it never learns again: it is **dead** for good. A dropped unit is only gone for one pass;
it is back on the next one.
"""

CAPTIONS = {
    "learning-curves": "Look for: which variants reach high validation accuracy (solid lines). Dashed = training "
                       "set. Linear networks stall: without a non-linearity they can only draw a straight line.",
    "overfitting-gap": "Look for: how far validation falls behind training. Dropout keeps this gap smaller; ReLU alone "
                       "does not.",
    "dead-units": "Look for: ReLU units that output 0 for every training input (dead: they never recover). "
                  "Dropout cannot kill a unit; linear units are never dead.",
    "zero-sources": "Look for: the hatched part exists only with dropout and only in training; the diamond "
                    "(test time) keeps only the activation's zeros.",
    "mask-stability": "Look for: ReLU alone agrees with itself (1.0) on two passes with the same weights; dropout "
                      "re-draws its zeros every pass, so its agreement is well below 1.",
    "boundary": "Look for: the shape of the line between the classes. ReLU bends it; a linear network, "
                "with or without dropout, can only draw a straight line.",
    "confusion": "Look for: a strong diagonal (correct digits). Off-diagonal cells are mistakes.",
    "on-off-raster": "Look for: coloured = unit on, grey = zero. ReLU alone looks the same in both train passes; "
                     "with dropout the two passes differ; at test time dropout's zeros are gone.",
}

PAGE_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>
"""

SEMINAR_CSS = """
<style>
html, body, [class*="st-"] { font-size: 20px; }
h1 { font-size: 2.6rem !important; }
h2, h3 { font-size: 1.9rem !important; }
div.stButton > button { font-size: 1.3rem; min-height: 3.6rem; width: 100%; }
[data-testid="stCaptionContainer"] p { font-size: 1.05rem; }
</style>
"""
