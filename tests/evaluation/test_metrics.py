from __future__ import annotations

import json
import math
from math import exp

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from paths import SHARED_DIR

from glfcr_qgis.core.errors import InputRasterError
from glfcr_qgis.core.evaluation.metric_sums import MetricSums, metric_maps
from glfcr_qgis.core.evaluation.metrics import (
    SSIM_HALO,
    ContextMargins,
    gaussian_window,
    mae,
    psnr,
    rmse,
    sam,
    ssim,
    ssim_centered,
)
from glfcr_qgis.core.io.normalization import normalize_optical

SAMPLES = SHARED_DIR / "data" / "sen12mscr_samples"
REFERENCE = json.loads((SHARED_DIR / "reference" / "metrics_reference.json").read_text())


# --- the authors' metrics.py, transcribed (CPU instead of .cuda()): the oracle --------------------


def _authors_gaussian(window_size, sigma):
    gauss = torch.Tensor(
        [exp(-((x - window_size / 2) ** 2) / float(2 * sigma**2)) for x in range(window_size)]
    )
    return gauss / gauss.sum()


def authors_ssim(img1, img2):
    channel = img1.size(1)
    window_1d = _authors_gaussian(11, 1.5).unsqueeze(1)
    window = (
        window_1d.mm(window_1d.t()).float().unsqueeze(0).unsqueeze(0).expand(channel, 1, 11, 11).contiguous()
    )
    mu1 = F.conv2d(img1, window, padding=5, groups=channel)
    mu2 = F.conv2d(img2, window, padding=5, groups=channel)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    sigma1_sq = F.conv2d(img1 * img1, window, padding=5, groups=channel) - mu1_sq
    sigma2_sq = F.conv2d(img2 * img2, window, padding=5, groups=channel) - mu2_sq
    sigma12 = F.conv2d(img1 * img2, window, padding=5, groups=channel) - mu1_mu2
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return ssim_map.mean()


def authors_psnr(img1, img2, mask=None):
    if mask is not None:
        mse = (img1 - img2) ** 2
        _, c, _, _ = mse.size()
        mse = torch.sum(mse * mask.float()) / (torch.sum(mask.float()) * c)
    else:
        mse = torch.mean((img1 - img2) ** 2)
    if mse == 0:
        return 100
    return 20 * math.log10(1 / math.sqrt(mse))


# --------------------------------------------------------------------------------------------------


def sample_pair(name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(cloudy, cloud-free) reflectance of a real sample, centre 128 crop (offset 64) or the whole 256."""
    images = []
    for folder in ("s2_cloudy", "s2_cloudfree"):
        with rasterio.open(SAMPLES / folder / name) as dataset:
            image = normalize_optical(dataset.read())
        if size == 128:
            image = image[:, 64:192, 64:192]
        images.append(np.ascontiguousarray(image))
    return images[0], images[1]


def random_pair(shape=(13, 37, 53), seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reference = rng.uniform(0.0, 0.6, size=shape).astype(np.float32)
    prediction = np.clip(reference + rng.normal(0.0, 0.05, size=shape), 0, 1).astype(np.float32)
    return prediction, reference


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_psnr_ssim_match_the_authors_reference(key):
    name, size = key.split("|")
    cloudy, cloudfree = sample_pair(name, int(size))
    expected = REFERENCE[key]
    assert psnr(cloudy, cloudfree) == pytest.approx(expected["psnr"], abs=1e-6)
    assert ssim(cloudy, cloudfree) == pytest.approx(expected["ssim"], abs=1e-6)
    sums = metric_maps(cloudy, cloudfree).sums()[0].values()
    assert sums["psnr"] == pytest.approx(expected["psnr"], abs=1e-6)
    assert sums["ssim"] == pytest.approx(expected["ssim"], abs=1e-6)


def test_masked_psnr_is_the_authors_masked_formula():
    cloudy, cloudfree = sample_pair("ROIs1970_fall_139_p839.tif", 256)
    mask = (cloudy[1] > np.median(cloudy[1])).astype(np.float32)
    expected = authors_psnr(
        torch.from_numpy(cloudy)[None], torch.from_numpy(cloudfree)[None], torch.from_numpy(mask)[None, None]
    )
    assert psnr(cloudy, cloudfree, mask) == pytest.approx(expected, abs=1e-6)
    assert psnr(cloudy, cloudfree, mask.astype(bool)) == pytest.approx(expected, abs=1e-6)


def test_identical_images():
    image, _ = random_pair()
    assert psnr(image, image) == 100.0
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    assert ssim_centered(image, image) == pytest.approx(1.0, abs=1e-6)
    assert mae(image, image) == rmse(image, image) == 0.0
    assert sam(image, image) == pytest.approx(0.0, abs=1e-5)


def test_authors_window_is_half_a_pixel_off_and_the_centred_one_is_symmetric():
    authors, centred = gaussian_window(), gaussian_window(centered=True)
    profile = authors.sum(1)
    # centred at 5.5: pixels 5 and 6 weigh the same, the window leans towards its last pixel
    assert profile[5] == pytest.approx(float(profile[6])) and profile[10] > profile[0]
    assert torch.equal(centred, centred.flip(0).flip(1))
    assert not torch.equal(authors, authors.flip(0))
    prediction, reference = random_pair()
    assert ssim_centered(prediction, reference) != pytest.approx(ssim(prediction, reference), abs=1e-7)


def test_mae_rmse_sam_on_known_values():
    reference = np.full((13, 4, 5), 0.2, dtype=np.float32)
    assert mae(reference + 0.1, reference) == pytest.approx(0.1, abs=1e-7)
    assert rmse(reference + 0.1, reference) == pytest.approx(0.1, abs=1e-7)
    # a scaled spectrum has the same direction; orthogonal spectra are 90 degrees apart
    assert sam(reference * 3, reference) == pytest.approx(0.0, abs=1e-5)
    first, second = np.zeros((2, 1, 1), np.float32), np.zeros((2, 1, 1), np.float32)
    first[0], second[1] = 1.0, 1.0
    assert sam(first, second) == pytest.approx(90.0)


def test_sam_leaves_out_all_zero_spectra():
    prediction, reference = random_pair((13, 6, 6))
    prediction[:, 0, 0] = 0.0
    mask = np.ones((6, 6))
    mask[0, 0] = 0
    assert sam(prediction, reference) == pytest.approx(sam(prediction, reference, mask), abs=1e-12)


def test_masked_metrics_are_means_over_scored_pixels():
    prediction, reference = random_pair()
    mask = np.zeros(prediction.shape[1:], dtype=bool)
    mask[5:20, 10:40] = True
    difference = (prediction - reference)[:, mask].astype(np.float64)
    assert mae(prediction, reference, mask) == pytest.approx(np.abs(difference).mean(), rel=1e-9)
    assert rmse(prediction, reference, mask) == pytest.approx(np.sqrt((difference**2).mean()), rel=1e-9)
    full_map = metric_maps(prediction, reference).ssim[0].double().numpy()
    assert ssim(prediction, reference, mask) == pytest.approx(full_map[:, mask].mean(), rel=1e-9)


def test_tensor_and_numpy_inputs_agree_and_batches_pool():
    prediction, reference = random_pair()
    tensors = torch.from_numpy(prediction)[None], torch.from_numpy(reference)[None]
    assert psnr(*tensors) == psnr(prediction, reference)
    batch = np.stack([prediction, reference]), np.stack([reference, reference])
    # a batch is scored as a whole, as the authors' functions do
    expected = authors_psnr(torch.from_numpy(batch[0]), torch.from_numpy(batch[1]))
    assert psnr(*batch) == pytest.approx(expected, abs=1e-6)
    per_image = metric_maps(*batch).sums()
    assert per_image[1].psnr() == 100.0
    assert per_image[0].psnr() == pytest.approx(psnr(prediction, reference), abs=1e-12)


def test_shape_mismatch_is_an_input_error():
    prediction, reference = random_pair()
    with pytest.raises(InputRasterError, match="differ in shape"):
        psnr(prediction, reference[:, :-1])
    with pytest.raises(InputRasterError, match="mask"):
        psnr(prediction, reference, np.ones((3, 3)))


@pytest.mark.parametrize("window", [7, 16])
def test_windowed_sums_equal_the_whole_image(window):
    prediction, reference = random_pair((13, 37, 53), seed=3)
    mask = np.random.default_rng(4).random(prediction.shape[1:]) > 0.3
    whole = metric_maps(prediction, reference).sums(mask)[0].values()
    height, width = prediction.shape[1:]
    total = MetricSums(bands=13)
    for row in range(0, height, window):
        for col in range(0, width, window):
            row_end, col_end = min(row + window, height), min(col + window, width)
            top, left = max(row - SSIM_HALO, 0), max(col - SSIM_HALO, 0)
            bottom, right = min(row_end + SSIM_HALO, height), min(col_end + SSIM_HALO, width)
            context = ContextMargins(row - top, bottom - row_end, col - left, right - col_end)
            maps = metric_maps(
                prediction[:, top:bottom, left:right], reference[:, top:bottom, left:right], context=context
            )
            total = total + maps.sums(mask[row:row_end, col:col_end])[0]
    windowed = total.values()
    for name, value in whole.items():
        assert windowed[name] == pytest.approx(value, abs=1e-7), name


def test_context_wider_than_the_halo_is_ignored():
    prediction, reference = random_pair((13, 30, 30))
    inner = (slice(None), slice(8, 22), slice(8, 22))
    narrow = metric_maps(
        prediction[:, 3:27, 3:27], reference[:, 3:27, 3:27], context=ContextMargins(5, 5, 5, 5)
    )
    wide = metric_maps(prediction, reference, context=ContextMargins(8, 8, 8, 8))
    assert torch.allclose(narrow.ssim, wide.ssim, atol=1e-6)
    assert torch.allclose(
        wide.ssim, metric_maps(prediction, reference).ssim[(slice(None), *inner)], atol=1e-6
    )


@pytest.mark.gpu
def test_cuda_equals_cpu():
    cloudy, cloudfree = sample_pair("ROIs2017_winter_112_p797.tif", 128)
    on_cuda = torch.from_numpy(cloudy).cuda(), torch.from_numpy(cloudfree).cuda()
    assert psnr(*on_cuda) == pytest.approx(REFERENCE["ROIs2017_winter_112_p797.tif|128"]["psnr"], abs=1e-6)
    assert ssim(*on_cuda) == pytest.approx(REFERENCE["ROIs2017_winter_112_p797.tif|128"]["ssim"], abs=1e-6)
    cpu, cuda = metric_maps(cloudy, cloudfree).sums()[0].values(), metric_maps(*on_cuda).sums()[0].values()
    for name in cpu:
        assert cuda[name] == pytest.approx(cpu[name], abs=1e-6), name
