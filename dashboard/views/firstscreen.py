"""The Lab's first screen: the verdict strip (core/verdict.py) and the stage, the chart a visitor
sees without scrolling (every variant's boundary in one row), live while training and replayable
afterwards (an epoch slider and Play over the run's snapshots, core/replay.py), with the network
picture unit by unit and the learning curves cut at the chosen epoch below it.

The Lab page (lab.py) decides where these go; this module draws them.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import streamlit as st

from core.claims import describe
from core.replay import at_epoch, replay_epochs
from core.results import Experiment
from core.verdict import VERDICT_CLAIM, Figure, Strip, verdict
from dashboard import charts, state
from dashboard.charts.stage import STAGE_HEIGHT, boundaries_row
from dashboard.charts.style import shown_epochs
from dashboard.charts.units import default_variant, network
from dashboard.views.common import font_size, guarded, is_seminar, md_escape

PLAY_FRAME_S = 0.35  # seconds per replayed snapshot: 24 snapshots play in about 8 s
SEMINAR_STAGE_HEIGHT = 230  # px: strip and chart above the fold at 1366x768 with seminar's 20 px text
AUTOPLAY = "_replay_autoplay"  # set by seminar mode's "Run live" on a hosted server: play once


def _run_live(hosted_server: bool, retrain_keys: tuple[str, ...]) -> None:
    ss = st.session_state
    if hosted_server:
        ss[AUTOPLAY] = True
    else:
        for k in retrain_keys:
            ss[k] = True


def run_live_button(hosted_server: bool, retrain_keys: tuple[str, ...]) -> None:
    """Seminar mode's Run live: train this experiment again while the class watches (local: the
    page's train-now and retrain flags, `retrain_keys`), or, where identical runs are shared and
    never retrained (hosted), replay its snapshots."""
    how = "replays the stored run" if hosted_server else "trains it again"
    if st.button("▶ Run live", key="run_live", on_click=_run_live, args=(hosted_server, retrain_keys), width="stretch",
                 help=f"Watch this experiment learn: {how}, with the boundaries and the network redrawn as it goes.") \
            and not hosted_server:
        st.rerun(scope="app")  # the button sits in the stage fragment: training is the whole page's business


def _fig(f: Figure | None, digits: int = 3) -> str:
    if f is None:
        return ":gray[not in this run]"
    spread = f" :gray[± {f.spread:.{digits}f}]" if f.seeds > 1 else ""
    return f"**{f.mean:.{digits}f}**{spread}"


def _figures(s: Strip) -> tuple[Figure | None, ...]:
    return (s.agreement_relu, s.agreement_dropout, s.gap_relu, s.gap_dropout, s.acc_relu, s.acc_linear)


def strip(exp: Experiment) -> None:
    """Three numbers of this run, each for the two variants it compares, with the seeds' spread.
    A box is drawn only when the run has both of its variants, and each number is named by its
    variant's own name (dying-relu's "ReLU, lr 0.1" is not shown as plain "ReLU"); a run with no
    complete pair (dying-relu, linear-is-not-enough) asks another question and gets no strip."""
    s: Strip = verdict(exp)
    boxes = (
        ("Same zeros on two training passes?", "mask agreement, layer 1 (1 = identical)",
         (s.agreement_relu, s.agreement_dropout)),
        ("Does dropout narrow the gap?", "validation − training loss", (s.gap_relu, s.gap_dropout)),
        ("What bends the boundary?", "validation accuracy", (s.acc_linear, s.acc_relu)),
    )
    boxes = tuple(b for b in boxes if all(f is not None for f in b[2]))
    if not boxes:
        return
    seeds = max(f.seeds for b in boxes for f in b[2])
    with st.container(key="verdict_strip"):
        for col, (q, what, nums) in zip(st.columns(3, gap="small"), boxes, strict=False):
            with col, st.container(border=True):
                lines = "  \n".join(f"{md_escape(f.variant)} {_fig(f)}" for f in nums)
                st.markdown(f"**{q}**  \n:gray[{what}]  \n{lines}")
        # the same spread as the summary table's (population std over seeds, core.verdict)
        st.caption(f"Last epoch, mean ± std over {seeds} seeds." if seeds > 1 else "Last epoch.")


def sentence(exp: Experiment) -> None:
    """The verdict sentence, a fact only when this run's numbers bear it out (core.verdict). Only
    a run with all three pairs can bear it out or not: on another preset (no linear variant, no
    dropout) it would read "not borne out" for a question the run never asked, so it is left out."""
    if any(f is None for f in _figures(verdict(exp))):
        return
    st.caption(md_escape(describe(VERDICT_CLAIM, VERDICT_CLAIM.verdict(exp))))


def _last_epoch(exp: Experiment) -> int:
    return max((r.last_epoch for r in exp.runs), default=0)


def _note(epoch: int, exp: Experiment, shown: set[int] | frozenset[int] = frozenset()) -> str:
    """"epoch 312/1500"; with pictures of another epoch (a stopped run's last snapshot,
    dashboard.state.with_last_pictures) it names theirs too."""
    total = max(r.config.epochs for r in exp.runs)
    other = sorted(set(shown) - {epoch})
    return f"epoch {epoch}/{total}" + (f"; pictures: epoch {', '.join(map(str, other))}" if other else "")


def draw_stage(slot, exp: Experiment, seed: int, note: str, key: str) -> None:
    fs = font_size()
    height = SEMINAR_STAGE_HEIGHT if is_seminar() else STAGE_HEIGHT  # seminar's larger text leaves less room
    slot.plotly_chart(boundaries_row(exp, seed, fs, note, height=height), width="stretch", key=key,
                      config=charts.chart_config("boundaries"), alt="Decision boundary of each variant")


def live(slot, exp: Experiment, key: str) -> None:
    """During training: the boundaries of the latest snapshots (seed #1), in the stage's place."""
    if not replay_epochs(exp):
        return
    view = at_epoch(exp, _last_epoch(exp))
    draw_stage(slot, view, 0, f"live, epoch {_last_epoch(exp)}", key)


def net_pick_key(names: list[str]) -> str:
    """The picker's key, one per list of variant names: under one key for every experiment the
    browser kept showing the last pick's name ("dropout 0.5" of tiny-data-overfit) after a switch
    to relu-vs-dropout, whose network of "ReLU + dropout 0.5" was drawn (Streamlit 1.67 keys a
    widget's identity on its key, and its frontend kept the old label)."""
    return "net_variant_" + hashlib.sha256("\x1f".join(names).encode()).hexdigest()[:12]


def _variant_pick(exp: Experiment) -> int:
    names = [r.name for r in exp.runs]
    default = default_variant(exp)
    pick = st.selectbox("Network of", range(len(names)), index=default, format_func=lambda i: names[i],
                        key=net_pick_key(names), help="Which variant's network to draw unit by unit.")
    return pick if pick is not None and pick < len(names) else default


def _pause() -> None:
    time.sleep(PLAY_FRAME_S)  # pacing for the eye only; nothing waits on it


def has_stage(exp: Experiment) -> bool:
    """Whether the stage draws for this experiment (2-D data): its boundaries row, the network
    picture and the curves, three charts."""
    return any("boundary" in r.artifacts or "snapshots" in r.artifacts for r in exp.runs)


STAGE_CHARTS = 3


@st.fragment
@guarded  # a fragment reruns on its own, outside the page's guard
def stage(entry: state.Entry, run_live: Callable[[], None] | None = None) -> None:
    """The stage: boundaries row, then (with snapshots) the epoch slider and Play, then the network
    picture and the learning curves at that epoch. Moving the slider reruns this part only."""
    ss = st.session_state
    exp = entry.exp
    if not has_stage(exp):
        return  # digits: no plane to draw; the charts below start with the curves
    fs = font_size()
    last = _last_epoch(exp)
    epochs = [e for e in replay_epochs(exp) if e <= last]
    if epochs and epochs[-1] != last:
        epochs.append(last)
    seed = int(str(ss.get("seed_pick") or "#1")[1:]) - 1
    top = st.empty()
    epoch, play = last, False
    if len(epochs) > 1:
        c1, c2 = st.columns([7, 1], vertical_alignment="bottom")
        with c1:
            epoch = st.select_slider("Replay: epoch", options=epochs, value=last, key=f"replay_epoch_{entry.id}",
                                     help="Pictures at the epochs measured during training (seed #1), curves up to "
                                          "that epoch. The last epoch is the finished run, every seed.")
        with c2:
            play = st.button("▶ Play", key="replay_play", width="stretch", help="Replay the training from epoch 0.")
    if run_live is not None:  # seminar mode: beside the replay, not above the first chart
        run_live()
    sentence(exp)
    play = play or bool(ss.pop(AUTOPLAY, False))
    left, right = st.columns([3, 2], gap="medium")
    with left:
        pick = _variant_pick(exp) if any(k in r.artifacts for r in exp.runs for k in ("units", "snapshots")) else None
        net_slot = st.empty()
    with right:
        curve_slot = st.empty()

    def frame(e: int, k: str) -> None:
        view = exp if e == last else at_epoch(exp, e)
        shown = set(shown_epochs(view.runs))
        s = seed if e == last and not shown else 0  # snapshots hold seed #1 only
        draw_stage(top, view, s, _note(e, exp, shown), f"stage_{k}")
        if pick is not None:
            # a run stopped early has no final unit pictures: its last snapshot's (seed #1)
            net_view, ns = (view, s) if "units" in view.runs[pick].artifacts else (at_epoch(exp, e), 0)
            net_slot.plotly_chart(network(net_view, ns, pick, fs), width="stretch", key=f"net_{k}",
                                  config=charts.chart_config("network"), alt="The network unit by unit")
        curve_slot.plotly_chart(charts.learning_curves(view, font_size=fs), width="stretch", key=f"curves_{k}",
                                config=charts.chart_config("learning-curves"), alt="Learning curves up to this epoch")

    if play and len(epochs) > 1:
        for i, e in enumerate(epochs):
            frame(e, f"play{i}")
            _pause()
        return
    frame(epoch, "still")
