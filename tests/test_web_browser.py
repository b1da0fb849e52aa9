"""The clinician page in a real browser: Debian's chromium driven by Selenium (no driver downloads).

Fills the form for the example ASM vignette, submits, checks the subtype text, that the curve image
renders, that each icon array holds 100 patients; then a bad value comes back beside its field.
Screenshots are kept in pytest's tmp_path (test artefacts). `.ci/run` installs chromium and
chromium-driver with apt-get; elsewhere the test is skipped when they are missing.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
import time
from importlib import resources
from pathlib import Path

import pytest

from mastoprog.web import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)

EXAMPLE = json.loads(
    resources.files("mastoprog").joinpath("data", "examples", "patient.json").read_text("utf-8")
)


@pytest.fixture(scope="module")
def server_url():
    handles: list = []
    thread = threading.Thread(
        target=serve, kwargs={"port": 0, "processes": 1, "ready": handles.append}, daemon=True
    )
    thread.start()
    for _ in range(200):
        if handles:
            break
        time.sleep(0.05)
    yield handles[0].url
    handles[0].shutdown()
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,3000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _fill(browser, patient: dict) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for column, value in patient.items():
        element = browser.find_element(By.NAME, column)
        text = "yes" if value is True else "no" if value is False else str(value)
        if column == "mc_sarcoma" and value is False:
            text = ""  # the select's "no (none diagnosed)" is the empty value, as in the data dictionary
        if element.tag_name == "select":
            Select(element).select_by_value(text)
        else:
            element.clear()
            element.send_keys(text)


def _submit(browser) -> None:
    """Click submit and wait for the next page: until the form page's root element is gone (a
    find_element right after the click may otherwise still see the form page, whose element
    then goes stale mid-test)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 120).until(expected_conditions.staleness_of(old_page))
    WebDriverWait(browser, 120).until(lambda b: b.execute_script("return document.readyState") == "complete")


def test_vignette_through_the_form(browser, server_url, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server_url)
    _fill(browser, EXAMPLE)
    browser.save_screenshot(str(tmp_path / "form.png"))
    _submit(browser)
    assert browser.find_element(By.ID, "subtype").text == "ASM"
    curve = browser.find_element(By.CSS_SELECTOR, "#curve svg")
    assert curve.size["width"] > 300 and curve.size["height"] > 150  # rendered, not an empty box
    arrays = browser.find_elements(By.CSS_SELECTOR, "figure.icon-array")
    assert len(arrays) == 4
    for fig in arrays:
        assert len(fig.find_elements(By.CSS_SELECTOR, "circle.icon")) == 100
    browser.save_screenshot(str(tmp_path / "result.png"))
    assert (tmp_path / "result.png").stat().st_size > 10_000
    # @media print: the page prints on one A4 sheet
    from selenium.webdriver.common.print_page_options import PrintOptions

    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7
    pdf = base64.b64decode(browser.print_page(options))
    (tmp_path / "printed.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1


def test_bad_value_comes_back_beside_its_field(browser, server_url, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server_url)
    _fill(browser, dict(EXAMPLE, hemoglobin=135))
    _submit(browser)
    field = browser.find_element(By.ID, "field-hemoglobin")
    assert "divide by 10" in field.find_element(By.CLASS_NAME, "ferr").text
    assert field.find_element(By.NAME, "hemoglobin").get_attribute("value") == "135"
    assert browser.find_element(By.NAME, "alp").get_attribute("value") == "260"  # typed values kept
    browser.save_screenshot(str(tmp_path / "bad-value.png"))
