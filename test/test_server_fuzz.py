"""Fuzz the running HTTP API with schemathesis cases generated from its own OpenAPI schema.

Positive cases (valid per the schema, mostly undecodable payloads) and negative cases (schema
violations) must never produce a 5xx, and every answer must match the documented status codes,
content type and response schema. Bounded: a fixed number of examples per operation and mode.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("schemathesis", reason="the server test extra is not installed (requirements-server.txt)")
import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from server_process import running_cli

EXAMPLES_PER_OPERATION_AND_MODE = 100
TIME_BUDGET_S = 90.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api() -> str:
    with running_cli(["serve", "--estimator", "classical", "--max-pixels", "1000000",
                      "--max-body-bytes", "2000000"], "/health") as server:
        yield server.url
        log = server.log()
    assert "Traceback" not in log, log


def test_documented_example_request_succeeds(api: str) -> None:
    spec = httpx.get(api + "/openapi.json").json()
    example = spec["components"]["schemas"]["PredictRequest"]["examples"][0]
    response = httpx.post(api + "/predict", json=example)
    assert response.status_code == 200, response.text
    assert response.json()["num_points"] > 0


@pytest.mark.parametrize("generation_mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
def test_fuzz_finds_no_server_errors(api: str, generation_mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(api + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {("POST", "/predict"), ("GET", "/health")}
    started = time.monotonic()
    calls: dict[int, int] = {}
    if generation_mode == GenerationMode.NEGATIVE:  # an operation without inputs has no invalid input
        operations = [op for op in operations if op.body or op.query or op.path_parameters]
    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION_AND_MODE, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                  print_blob=True)
        @given(case=operation.as_strategy(generation_mode=generation_mode))
        def exercise(case: schemathesis.Case) -> None:
            if time.monotonic() - started > TIME_BUDGET_S:
                return  # time bound: the remaining examples are skipped, the ones run still count
            response = case.call(base_url=api, timeout=30)
            calls[response.status_code] = calls.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        exercise()
    assert sum(calls.values()) >= EXAMPLES_PER_OPERATION_AND_MODE // 2, calls
    assert not any(status >= 500 for status in calls), calls
    print(f"{generation_mode.value}: HTTP status counts {dict(sorted(calls.items()))}")


def _encoded_payloads():
    """Strategy: (image, sparse) base64 payloads that decode, mis-shaped or odd ones included."""
    import base64

    import cv2
    import numpy as np
    from hypothesis import strategies as st

    def encode(array: np.ndarray, ext: str) -> str:
        if ext == ".npy":
            import io
            buffer = io.BytesIO()
            np.save(buffer, array)
            return base64.b64encode(buffer.getvalue()).decode()
        ok, buffer = cv2.imencode(ext, array)
        assert ok
        return base64.b64encode(buffer.tobytes()).decode()

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        height = draw(st.integers(1, 48))
        width = draw(st.integers(1, 48))
        seed = draw(st.integers(0, 2**16))
        rng = np.random.default_rng(seed)
        channels = draw(st.sampled_from([1, 3, 4]))
        image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        body: dict = {"image": encode(image, draw(st.sampled_from([".png", ".jpg", ".bmp"])))}
        meant_to_work = draw(st.booleans())  # half the cases are valid requests, half are random mixes
        good_kinds = ["png16", "npy32", "npy64", "tiff32"]
        sparse_kind = draw(st.sampled_from(good_kinds if meant_to_work else ["none", "png8", "npy_int"] + good_kinds))
        same_shape = meant_to_work or draw(st.booleans())
        sh, sw = (height, width) if same_shape else (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
        density = draw(st.floats(0.05 if meant_to_work else 0.0, 1.0))
        depth_m = np.where(rng.random((sh, sw)) < density, rng.uniform(0.1 if meant_to_work else -1.0, 80.0,
                                                                        (sh, sw)), 0.0)
        if draw(st.booleans()):
            depth_m[rng.random((sh, sw)) < 0.1] = np.nan
        if meant_to_work:
            depth_m.flat[0] = 1.0  # at least one measurement
        sparse = {
            "none": None,
            "png16": lambda: encode(np.nan_to_num(np.clip(depth_m * 1000, 0, 65535)).astype(np.uint16), ".png"),
            "png8": lambda: encode(np.nan_to_num(np.clip(depth_m, 0, 255)).astype(np.uint8), ".png"),
            "npy32": lambda: encode(depth_m.astype(np.float32), ".npy"),
            "npy64": lambda: encode(depth_m, ".npy"),
            "npy_int": lambda: encode(np.nan_to_num(depth_m).astype(np.int16), ".npy"),
            "tiff32": lambda: encode(depth_m.astype(np.float32), ".tiff"),
        }[sparse_kind]
        body["sparse_depth"] = sparse() if sparse is not None else None
        modes = [None, "completion"] if meant_to_work else [None, "completion", "monocular"]
        body["mode"] = draw(st.sampled_from(modes))
        if draw(st.booleans()):
            focal = st.floats(0.5, 1e4) if meant_to_work else st.floats(-1e4, 1e4)
            centre = st.floats(-1e4, 1e4)
            body["camera_intrinsics"] = {"fx": draw(focal), "fy": draw(focal), "cx": draw(centre),
                                         "cy": draw(centre)}
        return {"body": body, "meant_to_work": meant_to_work}

    return build()


def test_fuzz_decodable_payloads_never_fail_the_server(api: str) -> None:
    """Valid containers with random sizes, dtypes, densities, NaNs, modes and intrinsics: 200 or a 4xx."""
    statuses: dict[int, int] = {}

    @settings(max_examples=80, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=_encoded_payloads())
    def exercise(case: dict) -> None:
        response = httpx.post(api + "/predict", json=case["body"], timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in ((200,) if case["meant_to_work"] else (200, 400, 413, 422)), response.text
        answer = response.json()
        if response.status_code == 200:
            assert answer["status"] == "success" and answer["num_points"] >= 0
        else:
            assert answer["status"] == "error" and answer["error"]

    exercise()
    assert statuses.get(200, 0) > 0 and sum(v for k, v in statuses.items() if k != 200) > 0, statuses
