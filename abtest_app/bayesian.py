"""The Bayesian read-out of an effect: gbstats' EffectBayesianABTest. Pure computation.

The data give the effect estimate d with variance V (Gaussian approximation). With a
Gaussian prior N(m0, v0) on the effect ("proper"), the posterior is Gaussian with
precision 1/V + 1/v0 and mean (d/V + m0/v0) / precision; a flat prior (not proper,
gbstats' default) leaves N(d, V). From the posterior N(mu, s^2) of challenger minus
champion, in the metric's better direction:

- chance to win: P(effect better than 0);
- expected loss of shipping the challenger: E[max(0, -effect)] (how much worse it may
  be), and of keeping the champion: E[max(0, effect)]; closed forms
  E[max(X, 0)] = mu Phi(mu/s) + s phi(mu/s) for X ~ N(mu, s^2);
- the (1 - alpha) credible interval mu -/+ z s.

For a lower-is-better metric the chance and the two losses are mirrored (gbstats'
``inverse``). The prior is given on the scale of the effect analysed (absolute or
relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from abtest_app.stats import _check_alpha, _z_critical


@dataclass(frozen=True)
class GaussianPrior:
    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False  # False: flat (gbstats' default); True: N(mean, variance)

    def __post_init__(self) -> None:
        if self.proper and not self.variance > 0:
            raise ValueError(f"a proper prior needs variance > 0, got {self.variance!r}")


@dataclass(frozen=True)
class BayesianResult:
    scale: str  # "absolute" or "relative": the effect the posterior describes
    posterior_mean: float
    posterior_sd: float
    chance_to_win: float  # the challenger's
    loss_challenger: float  # expected loss of shipping the challenger
    loss_champion: float  # expected loss of keeping the champion
    ci_low: float
    ci_high: float
    prior_mean: float
    prior_variance: float
    prior_proper: bool


def _positive_part_mean(mu: float, sd: float) -> float:
    """E[max(X, 0)] for X ~ N(mu, sd^2)."""
    z = mu / sd
    return mu * float(special.ndtr(z)) + sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def effect_posterior(
    effect: float,
    variance: float,
    *,
    prior: GaussianPrior = GaussianPrior(),
    alpha: float = 0.05,
    lower_is_better: bool = False,
    scale: str = "absolute",
) -> BayesianResult:
    """The posterior of challenger minus champion and what it says about shipping."""
    _check_alpha(alpha)
    if not variance > 0 or not math.isfinite(effect):
        raise ValueError(f"need a finite effect and a variance > 0, got {effect!r}, {variance!r}")
    precision = 1 / variance + (1 / prior.variance if prior.proper else 0.0)
    mu = ((effect / variance + prior.mean / prior.variance) / precision if prior.proper
          else effect)
    sd = math.sqrt(1 / precision)
    up = _positive_part_mean(mu, sd)  # E[max(effect, 0)]
    down = _positive_part_mean(-mu, sd)  # E[max(-effect, 0)]
    higher = float(special.ndtr(mu / sd))
    half = _z_critical(alpha) * sd
    return BayesianResult(
        scale=scale,
        posterior_mean=mu,
        posterior_sd=sd,
        chance_to_win=1 - higher if lower_is_better else higher,
        loss_challenger=up if lower_is_better else down,
        loss_champion=down if lower_is_better else up,
        ci_low=mu - half,
        ci_high=mu + half,
        prior_mean=prior.mean,
        prior_variance=prior.variance,
        prior_proper=prior.proper,
    )
