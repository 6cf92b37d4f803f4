"""make attack's short version (bench.attack --quick): hostile links through the page, CSV files
through the loader and the CLI, CLI values, store faults; and that its checks catch what they
look for (a check that could not fail would prove nothing)."""
from __future__ import annotations

import pytest

from bench import attack, attack_cases


@pytest.fixture(scope="module")
def quick():
    return attack.run_attack(quick=True, browser=False, log=lambda line: None)


@pytest.mark.parametrize("kind", ["links", "csv", "cli"])
def test_every_hostile_input_is_handled(quick, kind):
    tried = [r for r in quick if r.kind == kind]
    assert len(tried) >= 7
    assert [(r.label, r.why) for r in tried if not r.handled] == []


def test_the_issues_links_are_among_them(quick):
    labels = {r.label for r in quick if r.kind == "links"}
    assert {"issue: wide CNN (memory)", "issue: wide CNN epochs=0", "issue: link name <a href>",
            "issue: another session's upload"} <= labels


def test_store_faults_are_handled(quick):
    from core.store import RunStore

    faults = {r.label: r for r in quick if r.kind == "faults"}
    assert len(faults) == 5
    assert faults["read-only store (CLI)"].handled, faults["read-only store (CLI)"].why
    if not hasattr(RunStore, "read_only"):  # the careful store (issue 15) handles the others
        pytest.skip("this run store is not the careful one: " +
                    "; ".join(f"{r.label}: {r.why}" for r in faults.values() if not r.handled))
    assert [(r.label, r.why) for r in faults.values() if not r.handled] == []


def test_the_page_check_catches_markup_left_in_a_chart(monkeypatch, tmp_path):
    # Undo both defences (names from links limited to plain text, chart labels escaped): the
    # issue's link must then be caught as not handled.
    import dashboard.charts.style as style
    import dashboard.controls as controls

    monkeypatch.setattr(controls, "variant_name", lambda name: str(name))
    monkeypatch.setattr(style, "plain", lambda text: str(text))
    link = dict(attack_cases.hostile_links()[2][1])  # vA=<a href="https://evil.example/x">CLICK ME</a>|lr:0.01
    with attack.hosted_env(tmp_path):
        [r] = attack.attack_links([("unescaped", link)], [])
    assert not r.handled and r.why == "chart text holds '<a '"


def test_the_cli_and_text_checks_catch_tracebacks_paths_and_escapes():
    tb = 'Traceback (most recent call last):\n  File "/x.py", line 1\nValueError: x'
    assert attack.cli_verdict(1, "", tb, []) == "exit 1: traceback"
    assert attack.cli_verdict(2, "", "one line\n", []) == ""
    assert attack.cli_verdict(2, "", "a\nb\nc\n", []) == "3-line message"
    assert attack.cli_verdict(0, "\x1b[2J", "", []) == "raw terminal escape in stdout"
    assert attack.leaks("see /srv/lab/.data/runs.db", ["/srv/lab"]) == "shows the server path /srv/lab"
    assert attack.leaks("all fine", ["/srv/lab"]) == ""
