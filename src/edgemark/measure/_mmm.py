"""Bayesian marketing-mix model on PyMC-Marketing's ``multidimensional.MMM`` (extra ``mmm``).

Geometric adstock (normalised, ``l_max`` weeks) then logistic saturation per channel, an
intercept, optional controls and yearly Fourier terms, fitted by NUTS. Reported per channel:
total contribution and ROAS (contribution / spend over the data) with equal-tailed credible
intervals; and the fit's R-hat, effective sample size and divergences, with warnings when
they say the posterior cannot be trusted. The posterior response curves feed the budget
optimiser (``_budget``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.errors import MeasureError
from edgemark.measure._budget import ResponseCurves

RHAT_MAX = 1.01
_CURVE_DRAWS = 400


@dataclass(frozen=True, slots=True)
class ChannelEffect:
    """A channel's spend, contribution and ROAS over the data, with credible intervals."""

    channel: str
    spend: float
    contribution: float
    contribution_low: float
    contribution_high: float
    roas: float
    roas_low: float
    roas_high: float


@dataclass(frozen=True, slots=True)
class MMMResult:
    """Channel effects and convergence diagnostics of one MMM fit."""

    channels: tuple[ChannelEffect, ...]
    level: float
    rhat_max: float
    ess_bulk_min: float
    divergences: int
    draws: int
    chains: int
    tune: int
    fit_seconds: float
    warnings: tuple[str, ...]
    curves: ResponseCurves

    @property
    def converged(self) -> bool:
        """True when R-hat is at most 1.01 and no transition diverged."""
        return self.rhat_max <= RHAT_MAX and self.divergences == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (without the response curves; save those separately)."""
        return {
            "channels": [asdict(c) for c in self.channels],
            "level": self.level,
            "rhat_max": self.rhat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "divergences": self.divergences,
            "converged": self.converged,
            "draws": self.draws,
            "chains": self.chains,
            "tune": self.tune,
            "fit_seconds": self.fit_seconds,
            "warnings": list(self.warnings),
        }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """PyMC, PyMC-Marketing and ArviZ warn about their own migrations and print progress on
    stdout; keep stdout clean for ``--json`` and report convergence ourselves instead."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pymc_marketing", "pytensor")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def _frame(
    data: Any, date: str, target: str, channels: Sequence[str], controls: Sequence[str]
) -> Any:
    pd = require("pandas", "mmm")
    missing = [c for c in (date, target, *channels, *controls) if c not in data.columns]
    if missing:
        raise MeasureError(
            f"MMM data has no column(s) {', '.join(map(repr, missing))}; "
            f"its columns are: {', '.join(map(str, data.columns))}"
        )
    if len(channels) < 1 or len(set(channels)) != len(channels):
        raise MeasureError(f"name one or more distinct channel columns, got {list(channels)}")
    frame = data[[date, target, *channels, *controls]].copy()
    try:
        frame[date] = pd.to_datetime(frame[date])
    except (ValueError, TypeError) as exc:
        raise MeasureError(f"column {date!r} does not hold dates: {exc}") from None
    numeric = frame[[target, *channels, *controls]].apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any() or not np.isfinite(numeric.to_numpy(float)).all():
        bad = numeric.columns[numeric.isna().any()].tolist()
        raise MeasureError(f"MMM columns {bad} hold empty or non-numeric cells; fill them first")
    if (numeric[list(channels)] < 0).any().any() or (numeric[list(channels)].sum() <= 0).any():
        raise MeasureError("channel spend must be >= 0, with some spend in every channel")
    frame[[target, *channels, *controls]] = numeric
    if len(frame) < 20:
        raise MeasureError(f"an MMM needs at least 20 periods of data, got {len(frame)}")
    return frame.sort_values(date).reset_index(drop=True)


def fit_mmm(
    data: Any,
    date: str,
    target: str,
    channels: Sequence[str],
    controls: Sequence[str] = (),
    *,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    seed: int = 0,
    l_max: int = 8,
    yearly_seasonality: int | None = 2,
    level: float = 0.9,
) -> MMMResult:
    """Fit the MMM to a pandas DataFrame with one row per period (e.g. week)."""
    if not 0 < level < 1:
        raise MeasureError(f"level must be between 0 and 1, got {level!r}")
    frame = _frame(data, date, target, channels, controls)
    with _quiet():
        mmm_mod = require("pymc_marketing.mmm.multidimensional", "mmm")
        media = require("pymc_marketing.mmm", "mmm")
        az = require("arviz", "mmm")
        model = mmm_mod.MMM(
            date_column=date,
            channel_columns=list(channels),
            target_column=target,
            control_columns=list(controls) or None,
            adstock=media.GeometricAdstock(l_max=l_max),
            saturation=media.LogisticSaturation(),
            yearly_seasonality=yearly_seasonality,
        )
        x, y = frame.drop(columns=[target]), frame[target]
        model.build_model(x, y)
        model.add_original_scale_contribution_variable(var=["channel_contribution"])
        started = time.perf_counter()
        idata = model.fit(
            x,
            y,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, 2),
            random_seed=seed,
            progressbar=False,
        )
        seconds = time.perf_counter() - started
        params = ["saturation_beta", "saturation_lam", "adstock_alpha"]
        rhat = float(az.rhat(idata, var_names=params).to_array().max())
        ess = float(az.ess(idata, var_names=params, method="bulk").to_array().min())
    divergences = int(idata.sample_stats["diverging"].sum())
    spend = frame[list(channels)].sum().to_numpy(float)
    effects = _effects(idata.posterior, list(channels), spend, level)
    curves = _curves(idata.posterior, model, frame, list(channels), seed)
    return MMMResult(
        channels=effects,
        level=level,
        rhat_max=rhat,
        ess_bulk_min=ess,
        divergences=divergences,
        draws=draws,
        chains=chains,
        tune=tune,
        fit_seconds=seconds,
        warnings=_warnings(rhat, ess, divergences, chains),
        curves=curves,
    )


def _effects(
    posterior: Any, channels: list[str], spend: Any, level: float
) -> tuple[ChannelEffect, ...]:
    total = posterior["channel_contribution_original_scale"].sum("date")
    samples = total.stack(sample=("chain", "draw")).transpose("sample", "channel")
    values = samples.sel(channel=channels).to_numpy()
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1 - tail], axis=0)
    mean = values.mean(axis=0)
    return tuple(
        ChannelEffect(
            channel=c,
            spend=float(spend[i]),
            contribution=float(mean[i]),
            contribution_low=float(low[i]),
            contribution_high=float(high[i]),
            roas=float(mean[i] / spend[i]),
            roas_low=float(low[i] / spend[i]),
            roas_high=float(high[i] / spend[i]),
        )
        for i, c in enumerate(channels)
    )


def _curves(
    posterior: Any, model: Any, frame: Any, channels: list[str], seed: int
) -> ResponseCurves:
    scales = model.get_scales_as_xarray()
    channel_scale = scales["channel_scale"].sel(channel=channels).to_numpy().astype(float)
    target_scale = float(scales["target_scale"])

    def draws(name: str) -> Any:
        stacked = posterior[name].stack(sample=("chain", "draw")).transpose("sample", "channel")
        return stacked.sel(channel=channels).to_numpy().astype(float)

    beta, lam = draws("saturation_beta") * target_scale, draws("saturation_lam")
    if beta.shape[0] > _CURVE_DRAWS:
        keep = np.random.default_rng(seed).choice(beta.shape[0], _CURVE_DRAWS, replace=False)
        beta, lam = beta[keep], lam[keep]
    current = frame[channels].mean().to_numpy(float)
    return ResponseCurves(tuple(channels), channel_scale, beta, lam, current)


def _warnings(rhat: float, ess: float, divergences: int, chains: int) -> tuple[str, ...]:
    out = []
    if rhat > RHAT_MAX:
        out.append(
            f"R-hat is {rhat:.3f} (> {RHAT_MAX}): the chains disagree, so the intervals are "
            "not trustworthy; fit again with more --tune and --draws"
        )
    if divergences:
        out.append(
            f"{divergences} divergent transitions: the sampler missed part of the posterior; "
            "fit again with more --tune, or simplify the model (fewer controls)"
        )
    if ess < 100 * chains:
        out.append(
            f"bulk effective sample size is only {ess:.0f}; interval ends are noisy, "
            "use more --draws"
        )
    return tuple(out)


def mmm_csv(
    path: Path,
    date: str,
    target: str,
    channels: Sequence[str],
    controls: Sequence[str] = (),
    **options: Any,
) -> MMMResult:
    """``fit_mmm`` on a CSV file with one row per period."""
    pd = require("pandas", "mmm")
    if not Path(path).is_file():
        raise MeasureError(f"MMM data file {path} does not exist; check the path")
    try:
        data = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise MeasureError(f"cannot read MMM data {path} as CSV: {exc}") from None
    return fit_mmm(data, date, target, channels, controls, **options)
