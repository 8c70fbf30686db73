"""Test-time views: the dihedral views of a square image, and features averaged over them."""

from __future__ import annotations

import pytest
import torch

from qsdaqec.models import dihedral_views, view_averaged


def test_eight_views_are_the_dihedral_group():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    views = dihedral_views(x, 8)
    assert len(views) == 8
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8  # all different
    assert torch.equal(views[0], x)
    # closed under the group: a view of a view is one of the views
    for v in views:
        for w in dihedral_views(v, 8):
            assert any(torch.equal(w, u) for u in views)
    assert [len(dihedral_views(x, n)) for n in (1, 2, 4)] == [1, 2, 4]
    assert torch.equal(dihedral_views(x, 2)[1], x.flip(-1))


def test_view_averaged_features():
    f = lambda x: x[:, :, 0, :].flatten(1)  # noqa: E731 - the first row: not view-invariant
    x = torch.randn(3, 1, 5, 5)
    assert view_averaged(f, 1) is f
    got = view_averaged(f, 4)(x)
    want = (f(x) + f(x.flip(-1)) + f(x.flip(-2)) + f(x.flip(-1, -2))) / 4
    assert torch.allclose(got, want)
    g = lambda x: x.sum((1, 2, 3)).unsqueeze(1)  # noqa: E731 - invariant: averaging changes nothing
    assert torch.allclose(view_averaged(g, 8)(x), g(x))
    with pytest.raises(RuntimeError):
        view_averaged(f, 8)(torch.randn(1, 1, 4, 5))  # views of a non-square image do not stack
