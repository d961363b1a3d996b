"""Which pair of models to show next: pure pairing rules over the votes so far.

Every rule takes a :class:`MatchState` (the win table so far plus the caller's constraints)
and returns pair probabilities: a symmetric ``(M, M)`` matrix ``P`` with ``P[i, j]`` the
probability of showing ``i`` as A and ``j`` as B (seats at random), summing to 1, zero on the
diagonal, on pairs the caller does not allow and on pairs with a model at the battle cap.
:func:`draw_pair` samples one. The rules, by name (``RULES``, the ``MATCHMAKING`` setting):

- ``uniform``: every usable pair equally likely.
- ``classic``: the original arena's rule. The first model is the one with the fewest
  battles (ties at random) among those with a usable pair; the second is drawn with weight
  ``1 / (battles + 1)`` among its usable opponents, leaving out its last
  ``RECENT_OPPONENTS`` opponents (taken only when nothing else is usable).
- ``active``: the pair whose next vote shrinks the leaderboard's uncertainty most, sampled
  in proportion to that expected reduction (as Chatbot Arena's paper proposes: Chiang et al.,
  "Chatbot Arena: An Open Platform for Evaluating LLMs by Human Preference", ICML 2024, §5,
  sample pairs in proportion to the expected reduction of the interval width), sharpened
  and mixed with an ``exploration`` share spread evenly over every usable pair, so no pair
  ever has weight zero. See :func:`expected_gain` for the measure.

The measure (Bayesian optimal design whose focus moves with the evidence). Let ``Sigma`` be
the posterior covariance of the log strengths under a ``N(0, PRIOR_SD^2)`` prior and the
Bradley-Terry Fisher information ``sum n_ij p_ij (1 - p_ij) (e_i - e_j)(e_i - e_j)'``, and
``r = C theta`` the ratings as the leaderboard shows them (mean zero, ``C = I - 11'/M``).
One more vote on ``(i, j)`` adds information ``w u u'`` with ``u = e_i - e_j`` and
``w = p_ij (1 - p_ij)``; by Sherman-Morrison it lowers a criterion ``x' Q x`` summed over the
posterior (``tr(Q Sigma)``) by ``w (Sigma u)' Q (Sigma u) / (1 + w u' Sigma u)``, for all
pairs at once in ``O(M^3)``. Two criteria, each scaled to a best pair of 1:

- the order: ``sum_{k, l} c_kl Var(theta_k - theta_l)`` with
  ``c_kl = exp(-(r_k - r_l)^2 / (2 Var(theta_k - theta_l)))`` (``Q`` the Laplacian of ``c``):
  the uncertainty of every pairwise order, weighted by how much that order is in doubt;
  with a flat posterior it asks for balanced coverage (the classic rule's fewest battles
  first) and then for the pairs still likely to be in the wrong order;
- the winner: the variances of the leader's rating and its challengers' (``Q`` diagonal on
  ``r``), a challenger ``k`` weighted by ``exp(-z_k^2)`` with ``z_k`` the leader's lead over
  it in units of the two 95% half-widths (``(r_L - r_k) / (1.96 (sd_L + sd_k))``, about 1 when
  the intervals just touch), the leader by its closest challenger's weight (LUCB-like,
  Kalyanakrishnan et al. 2012, but for the intervals the leaderboard shows).

They are mixed by how settled the order is, not by a vote count: with ``D`` the posterior
mean chance that a pair of models is in the wrong order (1/2 with no votes), the winner's
share is ``max(0, 1 - D / SETTLED_DISCORDANCE)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from arena.ratings.bradley_terry import fit_bt

RULES_ORDER: tuple[str, ...] = ("active", "classic", "uniform")
DEFAULT_EXPLORATION = 0.05
"""Share of the ``active`` rule's probability spread evenly over every usable pair."""
RECENT_OPPONENTS = 5
PRIOR_SD = 1.0
"""Prior standard deviation of a log strength for the design (natural-log units, ~174 Elo)."""
SHARPNESS = 3.0
"""The ``active`` rule samples pairs with probability proportional to ``gain ** SHARPNESS``."""
SETTLED_DISCORDANCE = 0.25
"""Mean chance of a wrongly ordered pair below which the contest for first place takes over
(its share grows linearly to 1 as that chance goes to 0)."""


@dataclass(frozen=True, eq=False)
class MatchState:
    """What a pairing rule sees; indices follow the caller's model list.

    Attributes:
        wins: ``(M, M)`` (fractional) wins so far, ties counting half each way, as
            :func:`arena.ratings.votelog.win_matrix` gives them.
        allowed: ``(M, M)`` bool, the pairs the caller can show (the stored pool, the
            voter's no-repeat); None allows every pair of two different models.
        battle_cap: a model with this many battles is not shown (None: no cap).
        recent: per model, its latest opponents (any order), for the ``classic`` rule.
        exploration: the ``active`` rule's evenly spread share, in ``(0, 1]``.
        theta: current log strengths if the caller keeps a fit (refitted every few votes);
            None fits them here.
    """

    wins: np.ndarray
    allowed: np.ndarray | None = None
    battle_cap: int | None = None
    recent: Sequence[Sequence[int]] = field(default_factory=tuple)
    exploration: float = DEFAULT_EXPLORATION
    theta: np.ndarray | None = None

    @property
    def n_models(self) -> int:
        return len(self.wins)

    def games(self) -> np.ndarray:
        """Symmetric ``(M, M)`` battle counts."""
        wins = np.asarray(self.wins, dtype=np.float64)
        out: np.ndarray = wins + wins.T
        return out

    def usable(self) -> np.ndarray:
        """Bool ``(M, M)``: allowed, two different models, neither at the battle cap."""
        m = self.n_models
        ok = ~np.eye(m, dtype=bool)
        if self.allowed is not None:
            allowed = np.asarray(self.allowed, dtype=bool)
            ok &= allowed & allowed.T
        if self.battle_cap is not None:
            below = self.games().sum(axis=1) < self.battle_cap
            ok &= below[:, None] & below[None, :]
        return ok


def design_fit(wins: np.ndarray) -> np.ndarray:
    """Log strengths for the design: the Bradley-Terry fit under the ``N(0, PRIOR_SD^2)``
    prior (a ridge of ``1 / PRIOR_SD^2``), finite from the first vote on. ``wins`` may be
    a batch ``(R, M, M)``."""
    fitted: np.ndarray = fit_bt(np.asarray(wins, dtype=np.float64), ridge=1.0 / PRIOR_SD**2)
    return fitted


def posterior_covariance(games: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``Sigma = (sum n_ij p_ij (1 - p_ij) (e_i - e_j)(e_i - e_j)' + I / PRIOR_SD^2)^-1``;
    batched over leading axes."""
    m = theta.shape[-1]
    p = 1.0 / (1.0 + np.exp(theta[..., None, :] - theta[..., :, None]))
    info = -games * p * (1.0 - p)
    info[..., range(m), range(m)] = -info.sum(axis=-1) + 1.0 / PRIOR_SD**2
    cov: np.ndarray = np.linalg.inv(info)
    return cov


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF (Abramowitz-Stegun 7.1.26, error below 1e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = (
        (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
    ) + 0.254829592
    erf = 1.0 - poly * t * np.exp(-z * z)
    out: np.ndarray = 0.5 * (1.0 + np.sign(x) * erf)
    return out


def _pair_reduction(gram: np.ndarray, w: np.ndarray, spread: np.ndarray, m: int) -> np.ndarray:
    """Sherman-Morrison reductions ``w u'G u / (1 + w u' Sigma u)`` for every pair, from
    ``G = Sigma Q Sigma``, scaled so that the best pair of each run has 1."""
    dg = np.diagonal(gram, axis1=-2, axis2=-1)
    quad = dg[..., :, None] + dg[..., None, :] - 2.0 * gram
    gain = np.maximum(w * quad / (1.0 + w * spread), 0.0)
    gain[..., range(m), range(m)] = 0.0
    top = gain.max(axis=(-2, -1), keepdims=True)
    out: np.ndarray = np.divide(gain, top, out=np.zeros_like(gain), where=top > 0)
    return out


def _gain(wins: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """:func:`expected_gain` for a batch: ``wins`` ``(R, M, M)``, ``theta`` ``(R, M)``."""
    m = theta.shape[-1]
    off = ~np.eye(m, dtype=bool)
    games = wins + np.swapaxes(wins, -1, -2)
    sigma = posterior_covariance(games, theta)
    centred = sigma - sigma.mean(axis=-2, keepdims=True)  # C Sigma
    rating_cov = centred - centred.mean(axis=-1, keepdims=True)  # C Sigma C
    sd = np.sqrt(np.maximum(np.diagonal(rating_cov, axis1=-2, axis2=-1), 1e-12))
    r = theta - theta.mean(axis=-1, keepdims=True)
    gap = r[..., :, None] - r[..., None, :]
    ds = np.diagonal(sigma, axis1=-2, axis2=-1)
    spread = np.maximum(ds[..., :, None] + ds[..., None, :] - 2.0 * sigma, 1e-12)
    z2 = gap**2 / spread  # Var(theta_i - theta_j) above
    p = 1.0 / (1.0 + np.exp(theta[..., None, :] - theta[..., :, None]))
    w = p * (1.0 - p)
    # The order: the Laplacian of the doubt weights c_kl.
    doubt = np.where(off, np.exp(-z2 / 2.0), 0.0)
    laplacian = -doubt
    laplacian[..., range(m), range(m)] = doubt.sum(axis=-1)
    order = _pair_reduction(sigma @ laplacian @ sigma, w, spread, m)
    # The winner: the leader and the challengers whose intervals it does not yet clear.
    runs = np.arange(r.shape[0])
    leader = r.argmax(axis=-1)
    lead = (r[runs, leader][:, None] - r) / (1.96 * (sd[runs, leader][:, None] + sd))
    q = np.exp(-(lead**2))
    q[runs, leader] = 0.0
    q[runs, leader] = q.max(axis=-1)
    winner = _pair_reduction(
        np.swapaxes(centred, -1, -2) @ (q[..., :, None] * centred), w, spread, m
    )
    wrong = np.where(off, _normal_cdf(-np.sqrt(z2)), 0.0).sum(axis=(-2, -1)) / (m * (m - 1))
    share = np.clip(1.0 - wrong / SETTLED_DISCORDANCE, 0.0, 1.0)[:, None, None]
    out: np.ndarray = (1.0 - share) * order + share * winner
    return out


def expected_gain(state: MatchState) -> np.ndarray:
    """Expected reduction of the leaderboard's uncertainty from one more vote on each pair.

    Symmetric ``(M, M)``, zero on the diagonal, not restricted to usable pairs, in relative
    units (the mixture of the two criteria, each scaled to 1 for its best pair; see the
    module docstring for the measure).
    """
    m = state.n_models
    if m < 2:
        return np.zeros((m, m))
    theta = design_fit(state.wins) if state.theta is None else np.asarray(state.theta, float)
    out: np.ndarray = _gain(np.asarray(state.wins, dtype=np.float64)[None], theta[None])[0]
    return out


def _normalised(weights: np.ndarray) -> np.ndarray:
    """Divide each ``(M, M)`` matrix of a batch by its sum (all-zero stays zero)."""
    total = weights.sum(axis=(-2, -1), keepdims=True)
    out: np.ndarray = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    return out


def _classic(games: np.ndarray, usable: np.ndarray, recent: np.ndarray) -> np.ndarray:
    """The classic rule for a batch: ``games``, ``usable``, ``recent`` are ``(R, M, M)``
    (``recent[r, i, j]``: ``j`` is among ``i``'s last opponents)."""
    battles = games.sum(axis=-1)
    has = usable.any(axis=-1)
    least = np.where(has, battles, np.inf).min(axis=-1, keepdims=True)
    fewest = has & (battles == least)
    fresh = usable & ~recent
    pool = np.where(fresh.any(axis=-1, keepdims=True), fresh, usable)
    weight = pool / (battles[..., None, :] + 1.0)
    rows = weight / np.maximum(weight.sum(axis=-1, keepdims=True), 1e-300)
    first = fewest / np.maximum(fewest.sum(axis=-1, keepdims=True), 1)
    chosen = first[..., :, None] * rows
    out: np.ndarray = (chosen + np.swapaxes(chosen, -1, -2)) / 2.0
    return out


def _active(
    wins: np.ndarray, theta: np.ndarray, usable: np.ndarray, exploration: float
) -> np.ndarray:
    """The active rule for a batch (``(R, M, M)`` wins and usable, ``(R, M)`` theta)."""
    if not 0.0 < exploration <= 1.0:
        raise ValueError("exploration must be in (0, 1]")
    gain = np.where(usable, _gain(wins, theta), 0.0)
    top = gain.max(axis=(-2, -1), keepdims=True)
    scaled = np.divide(gain, top, out=np.zeros_like(gain), where=top > 0)
    exploit = _normalised(scaled**SHARPNESS)
    explore = _normalised(usable.astype(np.float64))
    has_gain = exploit.sum(axis=(-2, -1), keepdims=True) > 0
    mixed = (1.0 - exploration) * exploit + exploration * explore
    out: np.ndarray = np.where(has_gain, mixed, explore)
    return out


def _paper(wins: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """The paper's rule for a batch (``(R, M, M)`` wins and usable): see :func:`paper_weights`."""
    games = wins + np.swapaxes(wins, -1, -2)
    rate = (wins + 1.0) / (games + 2.0)  # C_ab, with one pseudo-vote each way
    spread = np.sqrt(rate * (1.0 - rate))
    weight = spread * (1.0 / np.sqrt(games + 1.0) - 1.0 / np.sqrt(games + 2.0))
    return _normalised(np.where(usable, weight, 0.0))


def _recent_mask(state: MatchState) -> np.ndarray:
    m = state.n_models
    mask = np.zeros((m, m), dtype=bool)
    for i, opponents in enumerate(list(state.recent)[:m]):
        for j in opponents:
            if 0 <= j < m:
                mask[i, j] = True
    return mask


def uniform_weights(state: MatchState) -> np.ndarray:
    """Every usable pair equally likely."""
    return _normalised(state.usable().astype(np.float64))


def classic_weights(state: MatchState) -> np.ndarray:
    """The original arena's rule (see the module docstring), as pair probabilities."""
    out: np.ndarray = _classic(
        state.games()[None], state.usable()[None], _recent_mask(state)[None]
    )[0]
    return out


def active_weights(state: MatchState) -> np.ndarray:
    """Expected gain (sharpened), mixed with the exploration share (module docstring)."""
    wins = np.asarray(state.wins, dtype=np.float64)
    theta = design_fit(wins) if state.theta is None else np.asarray(state.theta, float)
    out: np.ndarray = _active(wins[None], theta[None], state.usable()[None], state.exploration)[0]
    return out


def paper_weights(state: MatchState) -> np.ndarray:
    """Chatbot Arena's published active-sampling rule (Chiang et al. 2024, §5), a baseline for
    the benchmark (not one of ``RULES``): ``P(a, b)`` proportional to
    ``sqrt(Var(C_ab) / n_ab) - sqrt(Var(C_ab) / (n_ab + 1))``, ``C_ab`` the win rate of ``a``
    over ``b`` and ``n_ab`` their battles, here with one pseudo-vote each way so that unplayed
    pairs are finite: ``C_ab = (wins + 1) / (n_ab + 2)``, ``n_ab + 1`` and ``n_ab + 2``."""
    wins = np.asarray(state.wins, dtype=np.float64)
    out: np.ndarray = _paper(wins[None], state.usable()[None])[0]
    return out


RULES: dict[str, Callable[[MatchState], np.ndarray]] = {
    "active": active_weights,
    "classic": classic_weights,
    "uniform": uniform_weights,
}


def pair_weights(rule: str, state: MatchState) -> np.ndarray:
    """The pair probabilities of the rule named ``rule`` (``active``, ``classic``,
    ``uniform``)."""
    try:
        return RULES[rule](state)
    except KeyError:
        raise ValueError(
            f"unknown matchmaking rule {rule!r}: expected one of {', '.join(RULES_ORDER)}"
        ) from None


def draw_pair(weights: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """One ``(A, B)`` drawn from pair probabilities; None when every weight is zero."""
    flat = np.asarray(weights, dtype=np.float64).ravel()
    total = flat.sum()
    if total <= 0:
        return None
    cell = int(np.searchsorted(np.cumsum(flat), rng.random() * total, side="right"))
    cell = min(cell, len(flat) - 1)
    m = len(weights)
    return cell // m, cell % m


def planner_priorities(state: MatchState) -> np.ndarray:
    """For pre-generation: each usable pair's share of the expected gain (sums to 1 over
    unordered pairs; zero elsewhere). Pairs whose next battle would teach the leaderboard
    most come first."""
    upper = _normalised(np.triu(np.where(state.usable(), expected_gain(state), 0.0), 1))
    out: np.ndarray = upper + upper.T
    return out


def plan_battles(state: MatchState, total: int, minimum: int = 0) -> np.ndarray:
    """Where to spend ``total`` new battles: symmetric int ``(M, M)`` counts per pair.

    Every usable pair first gets ``minimum`` (exploration), then each further battle goes,
    one at a time, to the pair with the largest expected gain given those already planned
    (a greedy sequential design: each planned battle counts as information at the current
    strengths, so gains diminish and the plan spreads out).
    """
    if total < 0 or minimum < 0:
        raise ValueError("total and minimum must be >= 0")
    usable = np.triu(state.usable(), 1)
    plan = np.zeros(usable.shape, dtype=np.int64)
    pairs = np.argwhere(usable)
    if not len(pairs):
        return plan
    theta = design_fit(state.wins) if state.theta is None else np.asarray(state.theta, float)
    for i, j in pairs[:, :]:
        give = min(minimum, total - int(plan.sum()))
        plan[i, j] += max(give, 0)
    wins = np.asarray(state.wins, dtype=np.float64)
    while plan.sum() < total:
        half = (plan + plan.T) / 2.0  # planned battles as half a win each way
        step = MatchState(wins + half, state.allowed, None, (), state.exploration, theta)
        gain = np.where(usable, expected_gain(step), 0.0)
        if gain.max() <= 0:
            break
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        plan[i, j] += 1
    out: np.ndarray = plan + plan.T
    return out
