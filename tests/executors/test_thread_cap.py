"""The intra-op thread cap restores torch's own setting (regression: it restored 1)."""

from __future__ import annotations

import torch

from asha_nb._threads import ThreadCap


def test_thread_cap_restores_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cap = ThreadCap(1)
        assert torch.get_num_threads() == 1
        cap.restore()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
