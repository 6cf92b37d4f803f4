"""Training on your own CSV in a real browser (bench.harness: `streamlit run` + Chromium): pick
dataset csv, upload the file, press Train. The run trains on that file, the link names it by its
hash (a new visitor following the link trains on it too: locally the machine's one user sees every
upload), and the file is kept whole, readable by the server only, beside its record.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (then it fails).
"""
from __future__ import annotations

import hashlib
import json
import re
import stat
import time

import pytest

from bench.harness import CHART, wait_charts, wait_idle
from core.csvdata import example_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LINK = "/?preset=none&epochs=2&seeds=1"


def _server(tmp_path_factory, **env):
    """A server of its own whose temporary folder (and so its upload folder) is this test's."""
    from bench.harness import lab_server

    tmp = tmp_path_factory.mktemp("upload-server")
    return lab_server({"RELU_LAB_STORE": str(tmp / "runs.db"), "TMPDIR": str(tmp), **env}), tmp


def _upload_and_train(page, url: str, csv) -> None:
    """Open the page, pick dataset csv, upload the file, press Train."""
    page.goto(url + LINK, wait_until="domcontentloaded")
    page.wait_for_selector(CHART, timeout=60_000)
    side = page.locator('[data-testid="stSidebar"]')
    side.get_by_text("Data", exact=True).click()
    side.get_by_role("combobox", name="dataset").click()
    page.get_by_role("option", name="csv", exact=True).click()
    side.locator('input[type="file"]').set_input_files(str(csv))
    side.get_by_text(csv.name).wait_for(timeout=30_000)  # the uploader lists the file
    side.get_by_role("button", name="▶ Train").first.click()


def _exported(page, dataset: str, timeout: float = 120.0) -> dict:
    """The page's JSON export once it is of a run on `dataset`. Until Train's run is drawn the
    page still shows the run before it, whose download button that run replaces (a click on it
    may then fetch nothing): each try waits for the page's run to end, bounded by `timeout`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        wait_idle(page)
        try:
            with page.expect_download(timeout=10_000) as download:
                page.get_by_role("button", name="Everything as JSON").click(timeout=10_000)
            exported = json.loads(download.value.path().read_text())
            if exported["config"]["dataset"] == dataset:
                return exported
        except PlaywrightTimeout:
            exported = None
        assert time.monotonic() < deadline, f"no export of a {dataset} run within {timeout:g} s: {exported}"


@pytest.fixture
def points(tmp_path):
    data = example_csv().encode()
    csv = tmp_path / "my points.csv"
    csv.write_bytes(data)
    return csv, hashlib.sha256(data).hexdigest()[:32]


def test_an_uploaded_csv_trains_and_its_link_reopens_it(need_browser, browser, tmp_path_factory, points):
    csv, digest = points
    server, tmp = _server(tmp_path_factory)
    with server as srv:
        _trains_and_reopens(browser, srv.url, tmp / "relu-dropout-lab-uploads", csv, digest)


def _trains_and_reopens(browser, url, folder, csv, digest) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    _upload_and_train(page, url, csv)
    side = page.locator('[data-testid="stSidebar"]')
    page.wait_for_url(re.compile(rf"data={digest}"), timeout=60_000)
    wait_charts(page)
    assert "every row of the CSV" in side.inner_text()  # the data caption counts the file's rows
    base = _exported(page, "csv")["config"]
    assert base["dataset"] == "csv" and base["data_path"] == f"{digest}.csv"  # no server folder
    assert page.locator('[data-testid="stException"]').count() == 0
    kept = folder / f"{digest}.csv"
    assert kept.read_bytes() == csv.read_bytes()  # whole, under its hash
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # readable by the server only
    record = json.loads(kept.with_suffix(".json").read_text())
    assert len(record["owners"]) == 1 and record["shared"] is False
    link = page.url
    page.close()

    # A new visitor (a new session) follows the link: locally, the same file trains again.
    again = browser.new_page(viewport={"width": 1400, "height": 900})
    again.goto(link, wait_until="domcontentloaded")
    wait_charts(again)
    assert again.locator('[data-testid="stAlertContentWarning"]').count() == 0
    assert f"data={digest}" in again.url
    side = again.locator('[data-testid="stSidebar"]')
    side.get_by_text("Data", exact=True).click()
    assert side.get_by_role("combobox", name="dataset").input_value() == "csv"
    assert "every row of the CSV" in side.inner_text()
    again.close()


def test_hosted_an_upload_is_its_sessions_and_not_reopened_by_another(need_browser, browser, tmp_path_factory,
                                                                      points):
    csv, digest = points
    server, tmp = _server(tmp_path_factory, RELU_LAB_HOSTED="1")
    with server as srv:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        _upload_and_train(page, srv.url, csv)
        page.wait_for_url(re.compile(rf"data={digest}"), timeout=60_000)
        wait_charts(page)
        link = page.url
        page.close()

        other = browser.new_page(viewport={"width": 1400, "height": 900})  # another session
        other.goto(link, wait_until="domcontentloaded")
        warning = other.locator('[data-testid="stAlertContentWarning"]', has_text="is not an uploaded file")
        warning.wait_for(timeout=60_000)
        wait_charts(other)
        assert f"data={digest}" not in other.url  # it trained on the built-in data instead
        other.close()
