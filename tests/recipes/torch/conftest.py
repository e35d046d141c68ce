"""Shared by the network tests: torch on one thread, as the recipes train by default, so that
numbers are reproducible and two test processes do not spin-wait on a 2-core machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
