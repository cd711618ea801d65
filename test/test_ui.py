"""The Gradio UI, served by `lingbot-depth ui` against a running `lingbot-depth serve`.

- `gradio_client` round trip through the UI's API endpoint (the UI must call the HTTP API).
- A headless Chromium (Debian's `chromium`) drives the page like a person: uploads an image and a
  sparse depth file, picks the mode, types intrinsics, clicks Predict, and the page is screenshotted
  (test-artifacts/ui_screenshot.png) and checked to show the colorized depth.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio_client", reason="the server extra is not installed (requirements-server.txt)")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from server_process import RunningServer, running_cli
from waiting import wait_until

from lingbot_depth_ros.io.ply import read_ply

CHROMIUM = Path("/usr/bin/chromium")
NYU_K = (518.8579, 519.46961, 325.58245, 253.73617)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--remote-debugging-port=0"]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    """(API, UI): the API with the classical estimator, the UI pointed at it; both on free loopback ports."""
    with running_cli(["serve", "--estimator", "classical"], "/health") as api:
        with running_cli(["ui", "--api-url", api.url], "/", timeout_s=120) as ui:
            yield api, ui


@pytest.fixture(scope="module")
def nyu_files(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """(NYU RGB file, 1-in-144 ground-truth sample as 16-bit PNG [mm], ground truth [m])."""
    gt_mm = cv2.imread(str(shared_data / "nyu" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED)
    sparse = np.zeros_like(gt_mm)
    sparse[::12, ::12] = gt_mm[::12, ::12]
    path = tmp_path_factory.mktemp("ui") / "sparse_depth_mm.png"
    assert cv2.imwrite(str(path), sparse)
    return shared_data / "nyu" / "rgb_00000.jpg", path, gt_mm.astype(np.float32) / 1000.0


def predict_posts(api: RunningServer) -> int:
    """How many POST /predict the API has answered (from its access log)."""
    return api.log().count('"POST /predict HTTP/1.1"')


def test_gradio_client_round_trip_goes_through_the_http_api(servers: tuple[RunningServer, RunningServer],
                                                            nyu_files: tuple[Path, Path, np.ndarray]) -> None:
    api, ui = servers
    image, sparse, gt_m = nyu_files
    client = Client(ui.url, verbose=False)
    assert "/predict" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    before = predict_posts(api)
    colour_path, npy_path, ply_path, summary = client.predict(
        handle_file(str(image)), "completion", handle_file(str(sparse)), *NYU_K, api_name="/predict")
    assert predict_posts(api) == before + 1  # the UI called the API, not an estimator of its own
    depth = np.load(npy_path)
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    valid = np.isfinite(depth)
    held_out = valid & (gt_m > 0)
    assert np.median(np.abs(depth[held_out] - gt_m[held_out]) / gt_m[held_out]) < 0.05
    colour = cv2.imread(colour_path, cv2.IMREAD_COLOR)
    assert colour.shape == (480, 640, 3) and colour.std() > 10
    xyz, rgb = read_ply(ply_path)
    assert xyz.shape == (int(valid.sum()), 3) and rgb is not None
    expected_rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)[valid]
    np.testing.assert_array_equal(rgb, expected_rgb)
    assert "completion" in summary and "classical" in summary and "given" in summary
    confidence_line = r"\*\*Confidence\*\* .*: mean 0\.\d\d · \d+ % of the valid pixels at 0\.9 or more"
    assert re.search(confidence_line, summary), summary  # the API's per-pixel confidence, summarised


def test_gradio_client_sees_the_api_errors(servers: tuple[RunningServer, RunningServer],
                                           nyu_files: tuple[Path, Path, np.ndarray]) -> None:
    _, ui = servers
    image, sparse, _ = nyu_files
    client = Client(ui.url, verbose=False)
    # the UI offers only the modes the API's estimator runs (classical: completion)
    with pytest.raises(AppError, match=r"'monocular'.*not in the list of choices: \['completion'\]"):
        client.predict(handle_file(str(image)), "monocular", None, None, None, None, None, api_name="/predict")
    with pytest.raises(AppError, match="fx must be > 0 px"):
        client.predict(handle_file(str(image)), "completion", handle_file(str(sparse)), 0.0, None, None, None,
                       api_name="/predict")


def test_mode_choices_follow_the_servers_modes() -> None:
    from lingbot_depth_ros.server.ui import mode_choices

    assert mode_choices(["completion"]) == ["completion"]
    assert mode_choices(["completion", "monocular"]) == ["auto", "completion", "monocular"]
    assert mode_choices(None) == ["auto", "completion", "monocular"]  # server unreachable: every mode


def test_empty_intrinsics_fields_take_defaults_from_the_image_size(servers: tuple[RunningServer, RunningServer],
                                                                   nyu_files: tuple[Path, Path, np.ndarray]) -> None:
    _, ui = servers
    image, sparse, _ = nyu_files
    client = Client(ui.url, verbose=False)
    *_, summary = client.predict(handle_file(str(image)), "completion", handle_file(str(sparse)), 500.0, None, None,
                                 None, api_name="/predict")
    assert "**intrinsics** given: fx=500.0 fy=500.0 cx=319.5 cy=239.5" in summary, summary  # fy = fx, centre


class DevTools:
    """A minimal Chrome DevTools Protocol client over the page's websocket (records network requests)."""

    def __init__(self, websocket_url: str) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self._socket = self._stack.enter_context(connect(websocket_url, max_size=None, open_timeout=10))
        self._ids = itertools.count(1)
        self.requested_urls: list[str] = []

    def call(self, method: str, **params: Any) -> dict:
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("method") == "Network.requestWillBeSent":
                self.requested_urls.append(message["params"]["request"]["url"])
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout_s: float = 60.0) -> None:
        wait_until(lambda: self.js(expression), timeout_s, f"the page to show {what}", poll_s=0.2,
                   detail=lambda: f"page text: {self.js('document.body.innerText')!r:.600}")

    def upload(self, selector: str, path: Path) -> None:
        root = self.call("DOM.getDocument", depth=-1, pierce=True)["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        assert node, f"no element matches {selector}"
        self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    def type_into(self, selector: str, text: str) -> None:
        self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.select(); }})()")
        self.call("Input.insertText", text=text)

    def close(self) -> None:
        self._stack.close()


def start_chromium(profile: Path) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with a fresh profile; returns (process, websocket URL of its page)."""
    process = subprocess.Popen([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"

    def port_written() -> bool:
        if process.poll() is not None:
            pytest.fail(f"chromium exited with {process.returncode} before opening its DevTools port")
        return port_file.exists() and bool(port_file.read_text().strip())

    try:
        wait_until(port_written, 30, "chromium to open its DevTools port", poll_s=0.1)
    except AssertionError:
        process.kill()
        raise
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.load(response)
    page = next(t for t in targets if t["type"] == "page")
    return process, page["webSocketDebuggerUrl"]


def test_browser_shows_the_depth_after_a_prediction(servers: tuple[RunningServer, RunningServer],
                                                    nyu_files: tuple[Path, Path, np.ndarray],
                                                    artifacts_dir: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run scripts/install_browser.sh (installs Debian's chromium)")
    api, ui = servers
    image, sparse, _ = nyu_files
    profile = Path(tempfile.mkdtemp(prefix="lingbot_chromium_"))
    process, websocket_url = start_chromium(profile)
    page = DevTools(websocket_url)
    try:
        page.call("Network.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=960, deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=ui.url + "/")
        page.wait_for("!!document.querySelector('#predict-btn')", "the Predict button")
        page.wait_for("document.querySelector('#server-status').innerText.includes('classical')",
                      "the API status line")
        page.upload("#input-image input[type=file]", image)
        page.upload("#sparse-depth input[type=file]", sparse)
        page.wait_for("!!document.querySelector('#input-image img')", "the uploaded image")
        page.wait_for("document.querySelector('#sparse-depth').innerText.includes('sparse_depth_mm') && "
                      "!document.querySelector('#sparse-depth').innerText.includes('Uploading')",
                      "the uploaded sparse depth file")
        # Only the modes the API's estimator runs (classical: completion), and empty intrinsics fields, never 0.
        modes = page.js("[...document.querySelectorAll('#mode input[type=radio]')].map(r => r.value)")
        assert modes == ["completion"], modes
        assert page.js("document.querySelector('#mode input[type=radio]').checked")
        fields = page.js("['fx', 'fy', 'cx', 'cy'].map(f => document.querySelector(`#${f} textarea, #${f} input`))"
                         ".map(e => [e.value, e.placeholder])")
        assert [value for value, _ in fields] == ["", "", "", ""] and all(hint for _, hint in fields), fields
        assert "53°" in page.js("document.querySelector('#intrinsics-help').innerText")
        before = predict_posts(api)
        # Empty intrinsics: the API assumes them from the image size and says so.
        page.js("document.querySelector('#predict-btn').click()")
        page.wait_for("document.querySelector('#summary').innerText.includes('Points')", "the first summary")
        summary = page.js("document.querySelector('#summary').innerText")
        assert "intrinsics assumed (none given): fx=640.0 fy=640.0 cx=319.5 cy=239.5" in summary, summary
        for field, value in zip(("fx", "fy", "cx", "cy"), NYU_K):
            page.type_into(f"#{field} textarea, #{field} input", f"{value:.2f}")
        page.js("document.querySelector('#predict-btn').click()")
        page.wait_for("(() => { const i = document.querySelector('#depth-output img');"
                      " return !!i && i.complete && i.naturalWidth === 640"
                      " && document.querySelector('#summary').innerText.includes('intrinsics given'); })()",
                      "the colorized depth and the summary")
        summary = page.js("document.querySelector('#summary').innerText")
        assert "completion" in summary and "intrinsics given: fx=518.9" in summary, summary
        links = page.js("[...document.querySelectorAll('#download-npy a, #download-ply a')].map(a => a.href)")
        npy_links = [link for link in links if link.split("?")[0].endswith("depth_m.npy")]
        ply_links = [link for link in links if link.split("?")[0].endswith("points.ply")]
        assert npy_links and ply_links, links
        assert predict_posts(api) == before + 2
        # Screenshot of the whole page, top to bottom.
        page.js("window.scrollTo(0, 0)")
        height = int(page.js("document.documentElement.scrollHeight"))
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=min(height, 2000), deviceScaleFactor=1,
                  mobile=False)
        page.wait_for(f"window.innerHeight === {min(height, 2000)}", "the resized viewport")
        page.js("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")  # laid out, painted
        rect = page.js("(() => { const r = document.querySelector('#depth-output img').getBoundingClientRect();"
                       " return [r.x, r.y, r.width, r.height]; })()")
        shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
        urls = list(page.requested_urls)
    finally:
        page.close()
        process.terminate()
        process.wait(timeout=15)
        shutil.rmtree(profile, ignore_errors=True)
    # The download links serve the files.
    downloaded = np.load(io.BytesIO(httpx.get(npy_links[0], timeout=30).content), allow_pickle=False)
    assert downloaded.shape == (480, 640) and np.isfinite(downloaded).mean() > 0.8
    assert httpx.get(ply_links[0], timeout=30).content.startswith(b"ply\nformat binary_little_endian 1.0")
    screenshot_path = artifacts_dir / "ui_screenshot.png"
    screenshot_path.write_bytes(shot)
    docs_copy = artifacts_dir / "ui_screenshot_docs.png"  # 256 colours: small enough for docs/ (< 300 kB)
    Image.open(io.BytesIO(shot)).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(docs_copy, optimize=True)
    screenshot = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    assert screenshot is not None and screenshot.shape[1] == 1280
    # The depth panel on the screenshot is the colorized depth: vivid turbo colours, not a blank box.
    x, y, w, h = (int(round(v)) for v in rect)
    assert w > 200 and h > 150, rect
    panel = screenshot[y + 5:y + h - 5, x + 5:x + w - 5]
    saturation = cv2.cvtColor(panel, cv2.COLOR_BGR2HSV)[..., 1]
    assert np.median(saturation) > 150, "the depth panel does not look colorized"
    hues = cv2.cvtColor(panel, cv2.COLOR_BGR2HSV)[..., 0][saturation > 150]
    assert np.ptp(np.percentile(hues, [5, 95])) > 30, "the depth panel shows a single colour"
    # The page never reached outside this machine (no CDN, fonts or analytics).
    external = [u for u in urls if not u.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))]
    assert not external, external
