"""The status page in a real browser: headless Chromium driven by selenium.

    python3 ui.py API_URL SCREENSHOT_PATH TOKEN

Against a worker with `[api] token = TOKEN` running `gen` (datagen into `ui-gen`), `sink`
(file-sink reading it) and two connectors named `constructor` and `__proto__`: without the
token the page gets nothing; opened once as /ui?token=TOKEN, it shows every connector RUNNING
with a rising records/s figure, the topic and the sink's consumer group; clicking gen's pause
button pauses it (seen on the page and through the API). Keeps a screenshot. Exits non-zero on
the first failed check.
"""

import sys
import time

import requests
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL, SHOT, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


options = Options()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"]:
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30, poll_frequency=0.2)


def cell(row, field):
    """A cell's text, read in one step: the page redraws its tables every second."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
        f'tr[{row}] td[data-field="{field}"]',
    )


def click(selector):
    """Clicks like a user, again if the page redrew the button in between."""
    for _ in range(20):
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.1)
    raise AssertionError(f"could not click {selector}")


try:
    driver.get(f"{URL}/ui")
    check("Bearer" in driver.page_source and driver.title != "connectd", "without the token, no page")
    driver.get(f"{URL}/ui?token={TOKEN}")
    check(driver.title == "connectd", "the page loads")
    check("token" not in driver.current_url, f"the token left the address: {driver.current_url}")
    for name in ["gen", "sink", "constructor", "__proto__"]:
        wait.until(lambda d: cell(f'data-connector="{name}"', "state") == "RUNNING")
        print("ok:", name, "shows RUNNING")

    # A rising records/s figure: nonzero, and the topic's record count grows between polls.
    rate = wait.until(lambda d: (lambda r: r if r not in ("", "–") and float(r) > 0 else None)(cell('data-connector="gen"', "rate")))
    check(float(rate) > 0, f"gen shows {rate} records/s")
    first = int(wait.until(lambda d: cell('data-topic="ui-gen"', "records") or None))
    wait.until(lambda d: int(cell('data-topic="ui-gen"', "records")) > first)
    print("ok: the topic's record count rises on the page")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-group="connect-sink"]'))
    print("ok: the sink's consumer group is listed")
    driver.save_screenshot(SHOT.replace(".png", "-running.png"))

    click('tr[data-connector="gen"] button[data-action="pause"]')
    wait.until(lambda d: cell('data-connector="gen"', "state") == "PAUSED")
    print("ok: clicking pause shows PAUSED")
    status = requests.get(f"{URL}/connectors/gen/status", headers=AUTH).json()
    check(status["connector"]["state"] == "PAUSED" and all(t["state"] == "PAUSED" for t in status["tasks"]), f"the API agrees: {status}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-connector="gen"] button[data-action="resume"]'))
    print("ok: a resume button replaces pause")
    check(cell('data-connector="sink"', "state") == "RUNNING", "the sink runs on")
    driver.save_screenshot(SHOT)
    print("ui: ok")
finally:
    driver.quit()
