"""Words on the page: the short answer, the longer explanation and one caption per chart
(keyed by the chart's name in dashboard.charts.CHARTS).

Every sentence here that states a result is in STATEMENTS with the checked claims that bear it
out (core.claims.UNIVERSAL, or a preset's own claims); tests/test_claims.py runs them on every
preset and checks that each sentence appears, word for word, where STATEMENTS says. A sentence
about what holds on one preset only names the preset, or is hedged ("often") with a counter-example.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from core import claims as C
from core.claims import Claim, Universal
from core.presets import PRESETS

SHORT_ANSWER = """
**Short answer: no.** Both put zeros into a hidden layer, but they are different kinds of zeros.

- **ReLU's zeros are fixed by the input and the weights.** Show the same input twice and the same
  units are zero, in training and after deployment. That is what makes the network *non-linear*.
- **Dropout's zeros are random.** A new coin flip for every unit on every pass, only while training;
  at test time dropout is off. It is a *regularizer* (it often narrows the gap between training and
  validation loss, though not on every preset), not a non-linearity: a linear network with dropout
  still draws a straight line.

The three boxes at the top of the Lab measure each of these on the run you see: mask agreement
(same zeros twice?), the loss gap with and without dropout, and linear against ReLU accuracy.
"""

# The short answer answers the relu-vs-dropout question; other presets ask their own.
SHORT_ANSWERS = {"relu-vs-dropout": SHORT_ANSWER}

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
Because every pass trains a different random sub-network, no unit can rely on particular others.
That often narrows the gap between training and validation loss, but not always: in digits-cnn it
does not, and in tiny-data-overfit the loss gap shrinks while the accuracy gap does not. ReLU alone
adds no such noise: its zero pattern is a fixed function of the input, so it is no regularizer.

#### A dead ReLU is not a dropped unit
A ReLU unit whose input is $\le 0$ for *every* training example outputs 0 for all of them: the page
counts it as **dead**. No gradient reaches its weights through it, so it cannot learn its way back
by itself. Whether it stays dead depends on what else moves:

- **It stays dead** in the first layer when nothing else moves: its inputs are the fixed data, and
  with plain SGD and no weight decay its weights get no update at all. (With plain SGD, weight decay
  shrinks all its weights and its bias by the same factor, which keeps it off.)
- **It can come back** when its inputs or its weights move for other reasons. A deeper unit reads the
  outputs of earlier layers, which keep learning. With dropout before it, it sees different inputs in
  every training pass (dead units are counted in eval mode, without dropout). Adam and momentum keep
  moving its weights for a while with the steps taken before. And under Adam weight decay does not
  shrink all of a unit's weights by the same factor (Adam sizes each weight's step by that weight's own
  history), which moves where the unit turns on.

A dropped unit is only gone for one pass; it is back on the next one. Nor does dropout protect units
from dying: in tiny-data-overfit more units end dead with dropout than without.
"""

CAPTIONS = {
    "learning-curves": "Look for: which variants reach high validation accuracy (solid lines; dashed = training "
                       "set). " + C.LINEAR_BELOW_RELU.text,
    "overfitting-gap": "Look for: how far validation falls behind training. Dropout often narrows the loss gap, "
                       "but not on every preset (not in digits-cnn), and a narrower loss gap can come with a "
                       "wider accuracy gap (tiny-data-overfit).",
    "dead-units": "Look for: units whose output is 0 for every training input (dead). A dead unit gets no "
                  "gradient through its output, but it can come back when its inputs or weights move for "
                  "other reasons (see the explanation). " + C.LEAKY_NOT_DEAD.text + " " + C.LINEAR_NO_ZEROS.text
                  + " Dropout does not protect units from dying (tiny-data-overfit).",
    "zero-sources": "Look for: where the zeros come from. " + C.DROPOUT_ZEROS.text + " At test time (the "
                    "diamond) dropout is off and only the activation's zeros remain.",
    "mask-stability": "Look for: how often a unit's on/off state (output > 0) is the same in two training "
                      "passes (left) and the share of states that flipped since the epoch before (right). "
                      + C.SAME_ZEROS.text + " " + C.REDRAWN_ZEROS.text + " Lines that lie on top of each other "
                      "(ReLU's and linear's, both exactly 1) are drawn dashed over a wider line and labelled "
                      "\"lines overlap\". The dotted line is dropout's expected agreement 1 − 2p(1−p)·a, with a "
                      "the share of outputs on before the dropout mask.",
    "boundary": "Look for: the shape of the line between the classes. " + C.LINEAR_STRAIGHT.text + " "
                + C.RELU_BENDS.text,
    "confusion": "Look for: a strong diagonal (correct digits). Off-diagonal cells are mistakes.",
    "on-off-raster": "Look for: coloured (the variant's colour) = unit on (output > 0), grey = ≤ 0 (off); the "
                     "thin white lines only separate the cells. " + C.RASTER_PASSES.text
                     + " At test time dropout is off: only the activation's zeros remain.",
}


@dataclass(frozen=True)
class Statement:
    """A sentence that states a result, where it is shown, and the checked claims behind it."""
    where: str                                # "short-answer", "explanation" or "caption:<chart name>"
    sentence: str                             # word for word in that text (whitespace aside)
    backed_by: tuple[Claim | Universal, ...]  # universal claims, or claims of the presets it names


def _p(preset: str, start: str) -> Claim:
    return PRESETS[preset].claim(start)


_NARROWS = (_p("relu-vs-dropout", "Dropout narrows the loss gap"), _p("tiny-data-overfit", "Dropout, weight decay"),
            _p("digits-cnn", "Here dropout does not narrow"))
_ACC_GAP = _p("tiny-data-overfit", "The accuracy gap")
_DEAD_DROPOUT = _p("tiny-data-overfit", "Dropout does not protect")
_REVIVE = (_p("dying-relu", "Dead is not for good"), _p("tiny-data-overfit", "Weight decay brings dead units back"))

STATEMENTS: tuple[Statement, ...] = (
    Statement("short-answer", "Show the same input twice and the same units are zero, in training and after "
              "deployment.", (C.SAME_ZEROS, C.RASTER_PASSES)),
    Statement("short-answer", "it often narrows the gap between training and validation loss, though not on "
              "every preset", _NARROWS),
    Statement("short-answer", "a linear network with dropout still draws a straight line.", (C.LINEAR_STRAIGHT,)),
    Statement("short-answer", "That is what makes the network *non-linear*.", (C.RELU_BENDS, C.LINEAR_STRAIGHT)),
    Statement("explanation", "Same input and same weights give the same zeros, every time, also after training.",
              (C.SAME_ZEROS, C.RASTER_PASSES)),
    Statement("explanation", "the zeros change on every pass, even for the same input and weights",
              (C.REDRAWN_ZEROS, C.RASTER_PASSES)),
    Statement("explanation", "Stacking such kinks lets a network bend its decision boundary",
              (C.RELU_BENDS, _p("relu-vs-dropout", "ReLU bends"), _p("linear-is-not-enough", "ReLU bends"))),
    Statement("explanation", "A *linear* network with dropout is therefore still a linear function at test time: "
              "a straight boundary", (C.LINEAR_STRAIGHT,)),
    Statement("explanation", "That often narrows the gap between training and validation loss, but not always: in "
              "digits-cnn it does not, and in tiny-data-overfit the loss gap shrinks while the accuracy gap does "
              "not.", (*_NARROWS, _ACC_GAP)),
    Statement("explanation", "its zero pattern is a fixed function of the input", (C.SAME_ZEROS,)),
    Statement("explanation", "in tiny-data-overfit more units end dead with dropout than without.", (_DEAD_DROPOUT,)),
    Statement("caption:learning-curves", C.LINEAR_BELOW_RELU.text, (C.LINEAR_BELOW_RELU,)),
    Statement("caption:overfitting-gap", "Dropout often narrows the loss gap, but not on every preset (not in "
              "digits-cnn), and a narrower loss gap can come with a wider accuracy gap (tiny-data-overfit).",
              (*_NARROWS, _ACC_GAP)),
    Statement("explanation", "It can come back", _REVIVE),
    Statement("caption:dead-units", "it can come back when its inputs or weights move for other reasons", _REVIVE),
    Statement("caption:dead-units", C.LEAKY_NOT_DEAD.text, (C.LEAKY_NOT_DEAD,)),
    Statement("caption:dead-units", C.LINEAR_NO_ZEROS.text, (C.LINEAR_NO_ZEROS,)),
    Statement("caption:dead-units", "Dropout does not protect units from dying (tiny-data-overfit).",
              (_DEAD_DROPOUT,)),
    Statement("caption:zero-sources", C.DROPOUT_ZEROS.text, (C.DROPOUT_ZEROS,)),
    Statement("caption:zero-sources", "At test time (the diamond) dropout is off and only the activation's zeros "
              "remain.", (C.LINEAR_NO_ZEROS,)),
    Statement("caption:mask-stability", C.SAME_ZEROS.text, (C.SAME_ZEROS,)),
    Statement("caption:mask-stability", C.REDRAWN_ZEROS.text, (C.REDRAWN_ZEROS,)),
    Statement("caption:boundary", C.LINEAR_STRAIGHT.text, (C.LINEAR_STRAIGHT,)),
    Statement("caption:boundary", C.RELU_BENDS.text, (C.RELU_BENDS,)),
    Statement("caption:on-off-raster", C.RASTER_PASSES.text, (C.RASTER_PASSES,)),
    Statement("caption:on-off-raster", "At test time dropout is off: only the activation's zeros remain.",
              (C.LINEAR_NO_ZEROS,)),
)
# Captions that state no result (what to look at, not what it shows).
NO_RESULT = ("confusion",)


# Caption sentences about one kind of experiment ("On the moons a linear network ..."): left out
# beside runs none of which they apply to (the digits, a run without a linear variant), where a
# student would look for what they describe and find nothing.
ONLY_WHERE_IT_APPLIES: tuple[Universal, ...] = (C.LINEAR_BELOW_RELU,)


def caption(name: str, obj) -> str:
    """The caption of chart `name` beside `obj` (an Experiment, or a list of runs in History)."""
    out = CAPTIONS[name]
    exp = SimpleNamespace(runs=list(getattr(obj, "runs", obj)))  # what Universal.applies reads
    for u in ONLY_WHERE_IT_APPLIES:
        if u.text in out and not any(u.applies(exp, r) for r in exp.runs):
            out = out.replace(" " + u.text, "")
    return out


def claim_line(claim: Claim, verdict) -> tuple[str, str]:
    """A preset's claim as the Lab's "What to look for" lists it, and its evidence in brackets.
    A claim the run cannot check (it lacks a variant the claim names, or a measurement) is said to
    be unchecked, in words, not "not borne out" with a Python exception's name (StopIteration)."""
    if not verdict.checked:
        return (f"– Not checked on this run: {claim.text}",
                "(this run lacks a variant or a measurement the claim needs: open the preset's own link to check it)")
    return C.describe(claim, verdict), f"({verdict.evidence})"


def shown_text(where: str) -> str:
    """The text a Statement's `where` names."""
    if where == "short-answer":
        return SHORT_ANSWER
    if where == "explanation":
        return EXPLANATION
    return CAPTIONS[where.removeprefix("caption:")]


# A touch screen has no hover, so plotly shows every chart's modebar at once, and on a phone its
# icons sat on the chart titles ("Boundaries, seed #1, epoch 80/80"): hidden on small touch screens.
PAGE_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
@media (hover: none) and (max-width: 700px) { .js-plotly-plot .modebar-container { display: none !important; } }
</style>
"""

# Seminar mode (a projector): larger text everywhere, but headings keep their own sizes (the
# base rule matches Streamlit's generated classes, the title's inner span among them, so the
# headings and their spans are set after it); preset buttons wrap their full titles onto several
# lines instead of cutting them ("Does ReLU d…"); no developer menu.
SEMINAR_CSS = """
<style>
html, body, [class*="st-"] { font-size: 20px; }
h1, h1 * { font-size: 2.6rem !important; line-height: 1.2 !important; }
h2, h2 *, h3, h3 * { font-size: 1.9rem !important; }
div.stButton > button { font-size: 1.05rem; min-height: 3.6rem; height: auto; width: 100%; }
div.stButton > button *, div.stButton > button p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: anywhere; font-size: 1.05rem; line-height: 1.25;
}
[data-testid="stCaptionContainer"] p { font-size: 1.05rem; }
[data-testid="stMainMenu"], [data-testid="stAppDeployButton"] { display: none !important; }
</style>
"""
