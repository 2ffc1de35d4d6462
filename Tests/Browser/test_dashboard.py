#!/usr/bin/env python3
"""Browser test of nfserve's dashboard (Public/): a real headless Chromium (Debian's chromium,
driven by Selenium through Debian's chromium-driver) against a running server that serves the
shipped checkpoints and datasets with an admin token. scripts/browser-test.sh starts the server
and runs this; it is part of scripts/test.sh.

Checks: the page loads with no console error; the model table lists the shipped models (and,
after a classification, that model's queue and pass times); an
uploaded sample image is classified with the right label; a signal propagation chart is drawn
for a served model and for two designs at initialization overlaid (a legend item toggles a
series); an estimation-shift chart for two models with GroupNorm positions marked;
recalibration and restore with the admin token; a server error is shown as the server's
message; a static-file path-traversal attempt is a 404. Screenshots of each view go to
--artifacts (and, with --docs, to docs/screenshots/ for the README).

Usage: Tests/Browser/test_dashboard.py --url http://127.0.0.1:PORT --token TOKEN [--artifacts DIR] [--docs DIR]
"""
import argparse
import http.client
import os
import shutil
import sys
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

REPO = Path(__file__).resolve().parents[2]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--artifacts", default=str(REPO / ".build" / "browser-artifacts"))
    parser.add_argument("--docs", default=None, help="also copy the screenshots here")
    args = parser.parse_args()
    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--force-device-scale-factor=1"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 120)

    def shot(name):
        path = artifacts / f"{name}.png"
        driver.save_screenshot(str(path))
        if args.docs:
            Path(args.docs).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(args.docs) / path.name)

    def scroll_to(element_id):
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", element_id)

    def svg_in(chart_id):
        return wait.until(lambda d: d.find_element(By.ID, chart_id).find_elements(By.TAG_NAME, "svg")
                          and d.find_element(By.ID, chart_id).get_attribute("innerHTML"))

    try:
        driver.get(args.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        table = driver.find_element(By.ID, "model-table").text
        check(all(name in table for name in ["fmnist-resnet-bn", "fmnist-resnet-xbn", "fmnist-nf-resnet"]),
              "the model table lists the three shipped models")
        check("normalizer-free" in table and "checkpoint" in table, "it shows normalization kinds and BatchNorm statistics")
        shot("models")

        # Classify: upload a shipped sample through the file input.
        scroll_to("classify")
        form = driver.find_element(By.ID, "classify-form")
        Select(form.find_element(By.NAME, "model")).select_by_value("fmnist-resnet-bn")
        form.find_element(By.NAME, "file").send_keys(str(REPO / "Public" / "samples" / "sneaker.png"))
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        first = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#classify-result li .label")))
        check(first.text == "Sneaker", f"the uploaded sneaker is classified as Sneaker (got {first.text!r})")
        # The models view then shows that model's recent queue and pass times (p50 / p99 in ms).
        times = wait.until(lambda d: [
            cell.text for row in d.find_elements(By.CSS_SELECTOR, "#model-table tbody tr")
            if row.find_elements(By.TAG_NAME, "td")[0].text == "fmnist-resnet-bn"
            for cell in row.find_elements(By.CSS_SELECTOR, "td.queue-time, td.pass-time") if "/" in cell.text] or None)
        check(len(times) == 2, f"the models view shows fmnist-resnet-bn's queue and pass times (got {times!r})")
        check("ms" in driver.find_element(By.ID, "classify-time").text, "the time it took is shown")
        shot("classify")

        # Signal propagation of a served model.
        scroll_to("spp")
        served = driver.find_element(By.ID, "spp-served-form")
        Select(served.find_element(By.NAME, "model")).select_by_value("fmnist-nf-resnet")
        served.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        html = svg_in("spp-chart")
        check("Residual branch variance" in html and "stage 2" in html and "fmnist-nf-resnet expected" in html,
              "an SPP chart for a served model, with stage boundaries and the expected variance")
        shot("spp-served")

        # Two designs at initialization, overlaid.
        design = driver.find_element(By.ID, "spp-design-form")
        Select(design.find_element(By.NAME, "family")).select_by_value("nf_resnet")
        depths = design.find_element(By.NAME, "depths")
        depths.clear()
        depths.send_keys("6, 6, 6, 6")
        width = design.find_element(By.NAME, "width")
        width.clear()
        width.send_keys("2")
        driver.find_element(By.ID, "spp-add").click()
        Select(design.find_element(By.NAME, "family")).select_by_value("preact_resnet")
        Select(design.find_element(By.NAME, "order")).select_by_value("bn_relu_conv")
        driver.execute_script("document.getElementById('spp-chart').innerHTML = ''")
        design.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        html = svg_in("spp-chart")
        check("NF-ResNet (WS)" in html and "BN-ReLU-Conv" in html, "two designs at initialization overlaid in one chart")
        legend = driver.find_element(By.CSS_SELECTOR, "#spp-chart .legend-item")
        legend.click()
        hidden = driver.execute_script(
            "return [...document.querySelectorAll('#spp-chart .series')].filter(g => g.style.display === 'none').length")
        check(hidden >= 3, f"a legend item toggles its series in the three panels ({hidden} hidden)")
        legend.click()
        shot("spp-designs")

        # A server error is shown as the server's message.
        depths.clear()
        depths.send_keys("101")
        design.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        error = wait.until(EC.visibility_of_element_located((By.ID, "error")))
        check("maxBlocksPerStage" in error.text, f"a server error is shown with its message ({error.text!r})")

        # Estimation shift: BatchNorm against XBNBlock.
        scroll_to("esm")
        esm = driver.find_element(By.ID, "esm-form")
        Select(esm.find_element(By.NAME, "model")).select_by_value("fmnist-resnet-bn")
        Select(esm.find_element(By.NAME, "other")).select_by_value("fmnist-resnet-xbn")
        Select(esm.find_element(By.NAME, "dataset")).select_by_value("fashion-mnist-sample")
        limit = esm.find_element(By.NAME, "limit")
        limit.clear()
        limit.send_keys("300")
        esm.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        html = svg_in("esm-chart")
        check("fmnist-resnet-xbn on fashion-mnist-sample" in html and ">GN<" in html,
              "an ESM chart of two models with GroupNorm positions marked")
        check(not driver.find_element(By.ID, "error").is_displayed(), "the error box is cleared by a request that works")
        shot("esm")

        # The live view follows the traffic (the sneaker classified above, and more now).
        esm.find_element(By.NAME, "live").click()
        wait.until(lambda d: "live: fmnist-resnet-bn" in d.find_element(By.ID, "esm-status").text)
        before = driver.find_element(By.ID, "esm-status").text
        for _ in range(3):
            connection = http.client.HTTPConnection(urllib.parse.urlparse(args.url).hostname, urllib.parse.urlparse(args.url).port, timeout=30)
            connection.request("PUT", "/predictions/fmnist-resnet-bn", body=(REPO / "Public" / "samples" / "bag.png").read_bytes())
            connection.getresponse().read()
        try:
            wait.until(lambda d: d.find_element(By.ID, "esm-status").text != before and "live:" in d.find_element(By.ID, "esm-status").text)
        except Exception:
            pass
        after = driver.find_element(By.ID, "esm-status").text
        check(after != before and "live: fmnist-resnet-bn" in after, f"the live view updates while traffic flows ({before!r} -> {after!r})")
        esm.find_element(By.NAME, "live").click()

        # Recalibrate and restore with the admin token.
        admin = driver.find_element(By.ID, "esm-admin")
        admin.find_element(By.NAME, "token").send_keys(args.token)
        admin.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        caption = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#esm-recalibration caption")))
        check("recalibrated on dataset:fashion-mnist-sample" in caption.text, "recalibration shows before and after")
        wait.until(lambda d: "recalibrated" in d.find_element(By.ID, "model-table").text)
        shot("esm-recalibrated")
        driver.find_element(By.ID, "esm-restore").click()
        try:
            wait.until(lambda d: "statistics in use: checkpoint" in d.find_element(By.ID, "esm-recalibration").text)
        except Exception:
            pass
        check("statistics in use: checkpoint" in driver.find_element(By.ID, "esm-recalibration").text,
              "restore brings the checkpoint's statistics back")

        # What int8 costs the NF model, block by block (its shipped calibration).
        scroll_to("precision")
        precision = driver.find_element(By.ID, "precision-form")
        Select(precision.find_element(By.NAME, "model")).select_by_value("fmnist-nf-resnet")
        precision.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        html = svg_in("precision-chart")
        check("What int8 costs: fmnist-nf-resnet" in html and "SQNR" in html and "stages.3.1" in html,
              "a precision chart for a served model, block by block")
        check("fp32" in driver.find_element(By.ID, "model-table").text, "the models view shows each model's precision")
        shot("precision")

        # Dark mode: the page and the server's charts follow prefers-color-scheme.
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        scroll_to("spp")
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        check(background == "rgb(21, 23, 26)", f"dark mode applies ({background})")
        shot("dark")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

        # Phone width.
        driver.set_window_size(390, 1400)
        driver.get(args.url + "/#classify")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 1, f"no horizontal scrolling at phone width ({overflow} px)")
        shot("phone")

        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
                  and "400 (Bad Request)" not in entry["message"]]
        check(not severe, f"no console error ({severe})")
    finally:
        driver.quit()

    # Path traversal on the static files: raw paths, as curl --path-as-is sends them.
    target = urllib.parse.urlparse(args.url)
    for path in ["/../Package.swift", "/js/../../Package.swift", "/%2e%2e/Package.swift", "/samples/..%2f..%2fPackage.swift"]:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        check(response.status == 404 and b"swift-tools-version" not in body, f"{path} is a 404 ({response.status})")

    print(f"browser test: {len(failures)} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
