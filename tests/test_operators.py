import pytest
import torch

from rwbench.tasks.operators import (
    BicubicSR,
    BoxInpainting,
    GaussianBlur,
    LinearOperator,
    RandomInpainting,
    gaussian_kernel_1d,
    imresize_weights,
    keys_cubic,
    make_operator,
    matrix_norm_sq,
)
from rwbench.core.rng import image_generators

F64 = torch.float64


def _ops(B):
    return [RandomInpainting(0.92, seeds=list(range(B))), RandomInpainting(0.5, seeds=[7] * B),
            BoxInpainting(4), BoxInpainting((3, 5), seeds=list(range(10, 10 + B))),
            BicubicSR(4), BicubicSR(2), BicubicSR(3),
            GaussianBlur(61, 3.0), GaussianBlur(5, 1.0, boundary="zero"), GaussianBlur(7, 2.0, boundary="circular"),
            GaussianBlur(9, 1.5, boundary="reflect")]


@pytest.mark.parametrize("shape", [(1, 12, 12), (3, 12, 24), (2, 24, 12)])
def test_adjoint_identity_every_operator(shape):
    B = 3
    g = torch.Generator().manual_seed(0)
    for op in _ops(B):
        x = torch.randn((B, *shape), generator=g, dtype=F64)
        y = torch.randn((B, *op.output_shape(shape)), generator=g, dtype=F64)
        lhs = (op.A(x) * y).sum()
        rhs = (x * op.AT(y)).sum()
        assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (op.config(), lhs, rhs)


def test_keys_kernel_values():
    t = torch.tensor([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 3.0], dtype=F64)
    # hand-computed: 1.5|t|^3 - 2.5|t|^2 + 1 on [0, 1]; -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2 on (1, 2]
    expected = [1.0, 0.8671875, 0.2265625, 0.0, -0.0703125, -0.0234375, 0.0, 0.0]
    assert torch.allclose(keys_cubic(t), torch.tensor(expected, dtype=F64), atol=1e-15)


def test_bicubic_weights_match_matlab_by_hand():
    # MATLAB imresize(x, 1/2, 'bicubic') on length 8: kernel cubic(d/2)/2 at distances d = +-0.5, +-1.5, +-2.5, +-3.5,
    # i.e. [-0.01171875, -0.03515625, 0.11328125, 0.43359375] mirrored (they already sum to 1); output 1 sits at
    # x = 1.5 with taps j = -2..5, and MATLAB's [1:n, n:-1:1] padding folds j = 0, -1, -2 onto 1, 2, 3.
    w = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    row0 = [w[2] + w[3], w[1] + w[3], w[0] + w[2], w[1], w[0], 0, 0, 0]
    row1 = [w[0] + w[1], w[2], w[3], w[3], w[2], w[1], w[0], 0]                 # j = 0..7 at x = 3.5
    M = imresize_weights(8, 2)
    assert M.shape == (4, 8)
    assert torch.allclose(M[0], torch.tensor(row0, dtype=F64), atol=1e-15)
    assert torch.allclose(M[1], torch.tensor(row1, dtype=F64), atol=1e-15)
    # last row: x = 7.5, taps j = 4..11: weights w0 w1 w2 w3 w3 w2 w1 w0; j = 9, 10, 11 fold onto 8, 7, 6
    last = [0, 0, 0, w[0], w[1], w[2] + w[0], w[3] + w[1], w[3] + w[2]]
    assert torch.allclose(M[3], torch.tensor(last, dtype=F64), atol=1e-15)
    assert torch.allclose(M.sum(1), torch.ones(4, dtype=F64), atol=1e-15)


def test_bicubic_x4_interior_weights_are_stretched_keys():
    M = imresize_weights(32, 4)
    d = torch.arange(-7.5, 8.0, 1.0, dtype=F64)                 # 16 taps at distances +-0.5 .. +-7.5
    raw = keys_cubic(d / 4) / 4
    row = M[4]                                                    # output 5 at x = 18.5 (1-based) -> taps 11..26
    assert torch.allclose(row[10:26], raw / raw.sum(), atol=1e-15)
    assert row[:10].abs().sum() == 0 and row[26:].abs().sum() == 0
    assert (row != 0).sum() == 16


@pytest.mark.parametrize("op,shape,expected", [
    (BicubicSR(4), (1, 16, 16), 1 / 16),
    (BicubicSR(2), (1, 8, 12), None),
    (GaussianBlur(5, 1.0, boundary="zero"), (1, 10, 10), None),
    (GaussianBlur(61, 3.0), (1, 12, 12), None),
    (RandomInpainting(0.92, seeds=[3, 4]), (1, 8, 8), 1.0),
    (BoxInpainting(3), (3, 8, 8), 1.0),
])
def test_norm_sq_matches_dense_svd(op, shape, expected):
    largest = 0.0
    for i in range(op.n_images or 1):
        largest = max(largest, torch.linalg.svdvals(op.dense(shape, i))[0].item() ** 2)
    assert op.norm_sq(shape) == pytest.approx(largest, rel=1e-10)
    if expected is not None:
        assert largest == pytest.approx(expected, rel=1e-12)
    assert shape in op._norm_cache
    # the generic batched power iteration (used by operators without Kronecker structure) agrees too
    assert LinearOperator._power_iteration(op, shape) == pytest.approx(largest, rel=1e-5)


def test_matrix_norm_sq_clustered_spectrum():
    M = torch.diag(torch.tensor([1.0, 1.0 - 1e-9, 0.5, 1e-3], dtype=F64)) @ torch.linalg.qr(torch.randn(4, 4, dtype=F64)).Q
    assert matrix_norm_sq(M) == pytest.approx(1.0, rel=2e-9)


def test_dense_matches_apply():
    op = BicubicSR(2)
    x = torch.randn(1, 2, 6, 8, dtype=F64)
    assert torch.allclose(op.dense((2, 6, 8)) @ x.reshape(-1), op.A(x).reshape(-1), atol=1e-14)


def test_random_inpainting_masks():
    op = RandomInpainting(0.92, seeds=[11, 12, 11])
    m = op.masks(16, 16)
    assert m.shape == (3, 1, 16, 16)
    assert torch.all((16 * 16 - m.sum((1, 2, 3))) == int(0.92 * 256))
    assert torch.equal(m[0], m[2]) and not torch.equal(m[0], m[1])
    assert torch.equal(RandomInpainting(0.92, seeds=[12]).masks(16, 16)[0], m[1])   # mask i depends only on seeds[i]
    x = torch.rand(3, 3, 16, 16, dtype=F64)
    y = op.A(x)
    assert torch.equal(y[:, 0] == 0, y[:, 2] == 0)                                     # same mask on all channels
    assert torch.equal(op.AT(y), y)


def test_box_inpainting_centred_and_random():
    m = BoxInpainting((2, 4)).masks(8, 8)
    assert m.shape == (1, 1, 8, 8) and m.sum() == 64 - 8
    assert torch.all(m[0, 0, 3:5, 2:6] == 0)
    r = BoxInpainting(3, seeds=[0, 1]).masks(8, 8)
    assert torch.all(r.sum((1, 2, 3)) == 64 - 9)


def test_blur_kernel_and_constant_image():
    g = gaussian_kernel_1d(61, 3.0)
    assert g.sum().item() == pytest.approx(1.0, abs=1e-15) and torch.equal(g, g.flip(0))
    k = torch.arange(61, dtype=F64) - 30
    assert torch.allclose(g / g[30], torch.exp(-k**2 / 18), atol=1e-15)
    for boundary in ("reflect", "circular"):
        op = GaussianBlur(61, 3.0, boundary=boundary)
        x = torch.full((1, 1, 16, 16), 0.3, dtype=F64)
        assert torch.allclose(op.A(x), x, atol=1e-14)                                  # rows sum to 1


def test_blur_matches_conv2d_with_zero_padding():
    op = GaussianBlur(7, 1.3, boundary="zero")
    x = torch.randn(2, 3, 10, 9, dtype=F64)
    g = gaussian_kernel_1d(7, 1.3)
    k2 = torch.outer(g, g)[None, None].repeat(3, 1, 1, 1)
    ref = torch.nn.functional.conv2d(x, k2, padding=3, groups=3)
    assert torch.allclose(op.A(x), ref, atol=1e-14)


def test_bicubic_matches_reflect_conv_in_interior():
    # the interior of A x is a stride-f correlation with the normalised stretched kernel
    op = BicubicSR(4)
    x = torch.randn(1, 1, 32, 32, dtype=F64)
    d = torch.arange(-7.5, 8.0, 1.0, dtype=F64)
    w = keys_cubic(d / 4)
    w = w / w.sum()
    ref = torch.nn.functional.conv2d(x, torch.outer(w, w)[None, None], stride=4)     # ref[o] covers 4o .. 4o+15
    y = op.A(x)
    # 0-based output o uses source 4o - 6 .. 4o + 9, so outputs 2..6 need no padding and equal ref[o - 1.5]...
    # ...shifted by 6 pixels: compare y[o] with the window starting at 4o - 6 directly
    for o in range(2, 6):
        for p in range(2, 6):
            win = x[0, 0, 4 * o - 6:4 * o + 10, 4 * p - 6:4 * p + 10]
            assert torch.allclose(y[0, 0, o, p], (torch.outer(w, w) * win).sum(), atol=1e-14)
    assert torch.allclose(y[0, 0, 2:6, 2:6], torch.nn.functional.conv2d(x[..., 2:, 2:], torch.outer(w, w)[None, None], stride=4)[0, 0, :4, :4], atol=1e-14)
    assert ref.shape[-1] == 5  # (32 - 16)/4 + 1


def test_measure_seeded_per_image():
    op = BicubicSR(4)
    x = torch.rand(3, 1, 8, 8, dtype=F64)
    y1 = op.measure(x, 0.1, image_generators(0, "sr", [0, 1, 2]))
    y2 = op.measure(x[1:], 0.1, image_generators(0, "sr", [1, 2]))
    assert torch.equal(y1[1:], y2)
    resid = (y1 - op.A(x)) / 0.1
    assert resid.abs().max() < 6


def test_bad_input():
    with pytest.raises(ValueError, match="p"):
        RandomInpainting(1.0, seeds=[0])
    with pytest.raises(ValueError, match="p"):
        RandomInpainting(0.0, seeds=[0])
    with pytest.raises(ValueError, match="divide"):
        BicubicSR(4).A(torch.zeros(1, 1, 10, 12))
    with pytest.raises(ValueError, match="factor"):
        BicubicSR(2.5)
    with pytest.raises(ValueError, match="eta"):
        BicubicSR(2).measure(torch.zeros(1, 1, 4, 4), 0.0, image_generators(0, "t", [0]))
    with pytest.raises(ValueError, match="built for 2 images"):
        RandomInpainting(0.5, seeds=[0, 1]).A(torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match="generators"):
        BicubicSR(2).measure(torch.zeros(2, 1, 4, 4), 0.1, image_generators(0, "t", [0]))
    with pytest.raises(ValueError, match="y"):
        BicubicSR(2).AT(torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match="box"):
        BoxInpainting(8).A(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="size"):
        GaussianBlur(4, 1.0)
    with pytest.raises(ValueError, match="operator"):
        make_operator("nope")
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        BicubicSR(2).A(torch.zeros(4, 4))
