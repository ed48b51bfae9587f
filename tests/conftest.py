"""Shared fixtures.  No test downloads: the weight URLs point at a closed local port."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib

import keras
import pytest

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _offline_and_private_cache(tmp_path_factory, monkeypatch):
    """Every test: a private weight cache, and download addresses nobody answers."""
    monkeypatch.setenv("MEDKERAS_HOME", str(tmp_path_factory.mktemp("medkeras_home")))
    monkeypatch.setenv("MEDKERAS_ALEXNET_URL", "http://127.0.0.1:9/bvlc_alexnet.caffemodel")
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_URL", "http://127.0.0.1:9/squeezenet_v1.1.caffemodel")
    monkeypatch.delenv("MEDKERAS_ALEXNET_CAFFEMODEL", raising=False)
    monkeypatch.delenv("MEDKERAS_SQUEEZENET_CAFFEMODEL", raising=False)
    keras.utils.set_random_seed(1234)


@pytest.fixture
def shared():
    """The development data beside the checkout; the test is skipped without it."""
    if not SHARED.is_dir():
        pytest.skip(f"needs the development data in {SHARED} (not part of a user's clone)")
    return SHARED
