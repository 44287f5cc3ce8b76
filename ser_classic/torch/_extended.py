"""The ``extended`` feature group in torch: :meth:`ser_classic.features._Analysis._extended`
over a batch.

Descriptors are [shape=(B, k, T)] with ``n_frames`` [shape=(B,)] valid frames per clip and
the voiced mask of :func:`ser_classic.torch.functional.acf_pitch`. Statistics are taken
in float64 (as numpy does) and returned in the descriptors' dtype. Decisions (the voiced
frames, the up-level thresholds, rising/falling steps, peaks, voiced segments) are taken
on detached values: counts and ratios have zero gradient, sums and order statistics the
gradient of the chosen values. The contour decisions split near-equal frames, so a
float64 run (on any device) takes them on the numpy path's own contours (:func:`numpy_contours`:
exact), a float32 run on its contours rounded to float32. The numpy quirks are kept:
voiced (unvoiced) statistics fall back to all frames when fewer than 2 frames are voiced
(unvoiced); contour
functionals are 0 for fewer than 3 frames; the pitch contour is F0 minus its median.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ..features import (
    _N_CONTOUR_MFCC,
    _N_CONTOUR_SPECTRAL,
    CONTOUR_FUNCTIONALS,
    _quadratic_fit,
)

__all__ = ["contour_functionals", "extended", "rhythm", "voiced_stats"]

_VOICED_QUANTILES = (0.1, 0.5, 0.9)
_UP_LEVELS = (0.25, 0.5, 0.75, 0.9)


def _frames(n: torch.Tensor, t: int) -> torch.Tensor:
    return torch.arange(t, device=n.device)[None, :] < n[:, None]


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x)`` with a zero (not infinite) gradient where ``x <= 0``."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))),
                       torch.zeros_like(x))


def _masked_mean(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of each row of ``x`` [shape=(B, k, T)] over the frames ``keep`` [shape=(B, T)]."""
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    count = keep.sum(dim=1).clamp_min(1).to(x.dtype)[:, None]
    return torch.where(keep[:, None, :], x, zero).sum(dim=2) / count


def voiced_stats(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean, std and 10/50/90th percentiles of each row over the frames ``keep``
    (:func:`ser_classic.features._voiced_stats`): [shape=(B, k, T)] -> [shape=(B, k, 5)],
    zeros for a clip with fewer than 2 such frames."""
    k = x.shape[1]
    n = keep.sum(dim=1)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    mask = keep[:, None, :]
    mean = _masked_mean(x, keep)
    centred = torch.where(mask, x - mean[..., None], zero)
    std = _sqrt((centred * centred).sum(dim=2) / n.clamp_min(1).to(x.dtype)[:, None])
    ordered = torch.sort(torch.where(mask, x, torch.full((), math.inf, dtype=x.dtype,
                                                         device=x.device)), dim=2).values
    last = (n - 1).clamp_min(0)
    pos = torch.tensor(_VOICED_QUANTILES, dtype=torch.float64,
                       device=x.device)[None, :] * last.to(torch.float64)[:, None]
    lo = torch.floor(pos).long()
    frac = (pos - lo).to(x.dtype)[:, None, :]
    hi = torch.minimum(lo + 1, last[:, None])
    at = lambda i: torch.gather(ordered, 2, i[:, None, :].expand(-1, k, -1))  # noqa: E731
    q = at(lo) * (1.0 - frac) + at(hi) * frac
    out = torch.cat([mean[..., None], std[..., None], q], dim=2)
    return torch.where((n >= 2)[:, None, None], out, zero)


@functools.lru_cache(maxsize=256)
def _fit_rows(t: int, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The quadratic-coefficient row of numpy's projector and the centred frame times."""
    projector, tc = _quadratic_fit(t, frame_rate)
    return projector[2], tc


def _fit_tensors(n: torch.Tensor, t: int, frame_rate: float, like: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per clip, :func:`_fit_rows` for its ``n`` frames, zero-padded to [shape=(B, t)]."""
    quad = np.zeros((n.shape[0], t))
    times = np.zeros((n.shape[0], t))
    for i, m in enumerate(n.tolist()):
        if m >= 3:
            quad[i, :m], times[i, :m] = _fit_rows(m, frame_rate)
    as_tensor = lambda a: torch.as_tensor(a, dtype=like.dtype, device=like.device)  # noqa: E731
    return as_tensor(quad), as_tensor(times)


def numpy_contours(spans, config) -> list[tuple[np.ndarray, np.ndarray]]:
    """The contours whose shape the extended group's decisions read, computed by the
    numpy path itself from each clip's kept span less its DC (``spans``: float64, the
    trims' output, :func:`ser_classic.torch.functional._kept_spans`): per clip the
    contour rows of :func:`extended` [shape=(k, T)] and the voiced frames' F0 less its
    median, both float64."""
    from .. import features as npf

    out = []
    for span in spans:
        clip = npf._level_normalised(span, config)  # the rest of numpy's preprocess
        with npf._one_blas_thread():
            a = npf._Analysis(npf._stft(clip, config), clip, config)
            rows = np.vstack([a.get("energy")[:1], a.get("mfcc")[:_N_CONTOUR_MFCC],
                              a.get("spectral")[:_N_CONTOUR_SPECTRAL]], dtype=np.float64)
            f0 = a.get("pitch").astype(np.float64)
        out.append((rows, f0 - np.median(f0) if f0.size else f0))
    return out


def _decision_tensor(arrays: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    """Left-aligned [shape=(k, T_i)] arrays zero-padded to ``like``'s (B, k, T) (one copy
    to ``like``'s device)."""
    out = np.zeros(like.shape, dtype=np.float64)
    for i, a in enumerate(arrays):
        a = np.atleast_2d(a)[:, :like.shape[2]]
        out[i, :, :a.shape[1]] = a
    return torch.from_numpy(out).to(like.device, like.dtype)


def contour_functionals(x: torch.Tensor, n: torch.Tensor, *, frame_rate: float,
                        decide_dtype: torch.dtype | None = None,
                        decide: torch.Tensor | None = None) -> torch.Tensor:
    """ComParE-style contour functionals (:data:`ser_classic.features.CONTOUR_FUNCTIONALS`)
    of each row over each clip's first ``n`` frames
    (:func:`ser_classic.features._contour_functionals`): [shape=(B, k, T)] ->
    [shape=(B, k, 11)], zeros for a clip with fewer than 3 frames.

    The quadratic coefficient and the regression slope use numpy's own least-squares
    projector for each clip's frame count; the up-level times, the rising ratio and the
    peak rate and distance are counts (zero gradient); the rising (falling) slope is the
    mean of the chosen steps. ``decide_dtype``: take those decisions on the values
    rounded to this dtype (``torch.float32`` for the numpy path's float32 contours: the
    ties of a flat stretch stay ties in a float64 run); default: as given. ``decide``
    [shape of ``x``]: take them on these values instead (the numpy path's own contours:
    :func:`numpy_contours`).
    """
    b, k, t = x.shape
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    if t < 3:
        return x.new_zeros((b, k, len(CONTOUR_FUNCTIONALS)))
    valid = _frames(n, t)[:, None, :]
    count = n.clamp_min(1).to(x.dtype)[:, None]
    with torch.no_grad():
        if decide is not None:
            xd = decide.to(x.dtype)
        else:
            xd = x.detach() if decide_dtype is None else x.detach().to(decide_dtype).to(
                x.dtype)
        low = torch.where(valid, xd, torch.full((), math.inf, dtype=x.dtype,
                                                device=x.device)).amin(dim=2, keepdim=True)
        high = torch.where(valid, xd, torch.full((), -math.inf, dtype=x.dtype,
                                                 device=x.device)).amax(dim=2, keepdim=True)
        span = high - low
        rel = (xd - low) / span.clamp_min(1e-9)
        up = [(valid & (rel > a)).sum(dim=2).to(x.dtype) / count for a in _UP_LEVELS]
        steps = _frames(n - 1, t - 1)[:, None, :]
        dd = xd[..., 1:] - xd[..., :-1]
        tol = 1e-3 * span
        rising, falling = steps & (dd > tol), steps & (dd < -tol)
        n_steps = (n - 1).clamp_min(1).to(x.dtype)[:, None]
        rise_ratio = rising.sum(dim=2).to(x.dtype) / n_steps
        peaks = ((xd[..., 1:-1] > xd[..., :-2]) & (xd[..., 1:-1] >= xd[..., 2:])
                 & (rel[..., 1:-1] > 0.5) & _frames(n - 2, t - 2)[:, None, :])
        n_peaks = peaks.sum(dim=2)
        idx = torch.arange(t - 2, device=x.device)
        first = torch.where(peaks, idx, t).amin(dim=2)
        last = torch.where(peaks, idx, -1).amax(dim=2)
        peak_dist = torch.where(n_peaks > 1, (last - first).to(x.dtype)
                                / (n_peaks - 1).clamp_min(1).to(x.dtype), zero)
        peak_rate = n_peaks.to(x.dtype) / (n.to(x.dtype)[:, None] / frame_rate)
    quad_row, tc = _fit_tensors(n, t, frame_rate, x)
    mean = _masked_mean(x, valid[:, 0])
    xm = torch.where(valid, x, zero)
    quadratic = torch.matmul(xm, quad_row[:, :, None])[..., 0]
    centred = torch.where(valid, x - mean[..., None], zero)
    denom = (tc * tc).sum(dim=1).clamp_min(1e-300)[:, None]
    slope = torch.matmul(centred, tc[:, :, None])[..., 0] / denom
    resid = torch.where(valid, centred - slope[..., None] * tc[:, None, :], zero)
    linreg_err = _sqrt((resid * resid).sum(dim=2) / count)
    d = x[..., 1:] - x[..., :-1]
    rise_slope = torch.where(rising, d, zero).sum(dim=2) / rising.sum(dim=2).clamp_min(1)
    fall_slope = torch.where(falling, d, zero).sum(dim=2) / falling.sum(dim=2).clamp_min(1)
    out = torch.stack([*up, rise_ratio, linreg_err, quadratic, peak_rate,
                       peak_dist / frame_rate, rise_slope * frame_rate,
                       fall_slope * frame_rate], dim=2)
    return torch.where((n >= 3)[:, None, None], out, zero)


def rhythm(voiced: torch.Tensor, n_frames: torch.Tensor, *, frame_rate: float,
           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Voiced segments per second, their mean/std length and mean/std pause in seconds
    (:func:`ser_classic.features._rhythm`) of each clip's voiced mask [shape=(B, T)]:
    -> [shape=(B, 5)] (decisions: no gradient)."""
    b, t = voiced.shape
    v = (voiced & _frames(n_frames, t)).to(torch.int8)
    edges = torch.diff(torch.nn.functional.pad(v, (1, 1)), dim=1)  # (B, t + 1)
    idx = torch.arange(t + 1, device=voiced.device).expand(b, -1)

    def positions(hit: torch.Tensor) -> torch.Tensor:  # in order, left-aligned
        order = torch.sort((~hit).to(torch.int8), dim=1, stable=True).indices
        return torch.gather(idx, 1, order)

    is_start = edges == 1
    starts, ends = positions(is_start), positions(edges == -1)
    n_seg = is_start.sum(dim=1)
    zero = torch.zeros((), dtype=dtype, device=voiced.device)

    def mean_std(values: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = _frames(m, values.shape[1])
        values = values.to(dtype) / frame_rate
        count = m.clamp_min(1).to(dtype)[:, None]
        mean = torch.where(keep, values, zero).sum(dim=1, keepdim=True) / count
        dev = torch.where(keep, values - mean, zero)
        return mean[:, 0], torch.sqrt((dev * dev).sum(dim=1) / count[:, 0])

    seg_mean, seg_std = mean_std(ends - starts, n_seg)
    pause_mean, pause_std = mean_std(starts[:, 1:] - ends[:, :-1], (n_seg - 1).clamp_min(0))
    duration = (n_frames.to(dtype) / frame_rate).clamp_min(1e-3)
    return torch.stack([n_seg.to(dtype) / duration, seg_mean, seg_std, pause_mean,
                        pause_std], dim=1)


def extended(*, mfcc: torch.Tensor, mel: torch.Tensor, spectral: torch.Tensor,
             energy: torch.Tensor, f0: torch.Tensor, n_f0: torch.Tensor,
             voiced: torch.Tensor, n_frames: torch.Tensor, frame_rate: float,
             decide: list[tuple[np.ndarray, np.ndarray]] | None = None) -> torch.Tensor:
    """The extended descriptors [shape=(B, n_extended)] in the order of
    :func:`ser_classic.features._extended_names`, in the dtype of ``mfcc``.

    Parameters
    ----------
    mfcc, mel, spectral, energy : torch.Tensor [shape=(B, k, T)]
        The LLD groups (all 17 spectral rows).
    f0 : torch.Tensor [shape=(B, 1, T)]
        The voiced frames' F0 in semitones, left-aligned, ``n_f0`` [shape=(B,)] per clip.
    voiced : torch.Tensor [shape=(B, T), bool]
    n_frames : torch.Tensor [shape=(B,)]
    frame_rate : float
    decide : list, optional
        :func:`numpy_contours` of the clips: the contour decisions are taken on them
        (exact); default: on the contours rounded to float32.
    """
    dt, out_dtype = torch.float64, mfcc.dtype
    valid = _frames(n_frames, mfcc.shape[2])
    voiced = voiced & valid
    unvoiced = ~voiced & valid
    vox = torch.where((voiced.sum(dim=1) >= 2)[:, None], voiced, valid)
    unv = torch.where((unvoiced.sum(dim=1) >= 2)[:, None], unvoiced, valid)
    mfcc, spectral, energy = mfcc.to(dt), spectral.to(dt), energy.to(dt)
    b = mfcc.shape[0]
    parts = [voiced_stats(torch.cat([mfcc, mel.to(dt), spectral, energy], dim=1),
                          vox).reshape(b, -1),
             _masked_mean(mfcc, unv),
             _masked_mean(spectral, vox) - _masked_mean(spectral, unv)]
    f0 = f0.to(dt)
    median = _median(f0[:, 0], n_f0)
    f0 = f0 - median[:, None, None]
    contours = torch.cat([energy[:, :1], mfcc[:, :_N_CONTOUR_MFCC],
                          spectral[:, :_N_CONTOUR_SPECTRAL]], dim=1)
    f0_decide = rows_decide = None
    if decide is not None:
        f0_decide = _decision_tensor([d[1] for d in decide], f0)
        rows_decide = _decision_tensor([d[0] for d in decide], contours)
    parts.append(contour_functionals(f0, n_f0, frame_rate=frame_rate,
                                     decide_dtype=torch.float32, decide=f0_decide
                                     ).reshape(b, -1))
    parts.append(contour_functionals(contours, n_frames, frame_rate=frame_rate,
                                     decide_dtype=torch.float32, decide=rows_decide
                                     ).reshape(b, -1))
    parts.append(rhythm(voiced, n_frames, frame_rate=frame_rate, dtype=dt))
    return torch.cat(parts, dim=1).to(out_dtype)


def _median(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``np.median`` of each row's first ``n`` values [shape=(B, T)] -> [shape=(B,)]
    (0 without values)."""
    t = x.shape[1]
    if t == 0:
        return x.new_zeros(x.shape[0])
    ordered = torch.sort(torch.where(_frames(n, t), x, torch.full(
        (), math.inf, dtype=x.dtype, device=x.device)), dim=1).values
    m = n.clamp_min(1)
    lo = torch.gather(ordered, 1, ((m - 1) // 2)[:, None])[:, 0]
    hi = torch.gather(ordered, 1, (m // 2)[:, None])[:, 0]
    return torch.where(n > 0, (lo + hi) / 2, torch.zeros_like(lo))
