"""Fixtures for the conduit Python tests (run by ctest as python_test, with
PYTHONPATH set to the build tree's python/ folder)."""

import os

import pytest

import conduit


# Persisted topics in the tests: small segments, since a sync topic writes
# each segment file whole with zeros before use (64 MiB by default).
SMALL = {"segment_bytes": 160 << 10, "max_payload_bytes": 1024}


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def engine(data_dir):
    with conduit.Engine(data_dir) as e:
        yield e


@pytest.fixture
def writer():
    """The C++ writer process (python/tests/writer.cpp)."""
    path = os.environ.get("CONDUIT_PYTHON_WRITER")
    if not path:
        pytest.fail("CONDUIT_PYTHON_WRITER is not set (run through ctest)")
    return path
