"""What the comparisons can and cannot determine: groups, win-graph reachability, the core.

Bradley-Terry ratings are differences, and a difference is only estimable along comparisons:

- **Groups.** Two models with no chain of games between them (the comparison graph is
  disconnected) have no estimable difference at all. Each connected component is a *group*:
  ratings are normalised per group and ranks only compare models of the same group.
- **Open bounds.** Inside a group the maximum-likelihood estimate exists exactly when the
  directed "i beat j at least once" graph is strongly connected (Zermelo 1929; Ford 1957):
  otherwise a set of models that never lost to the rest can be pushed up without limit. We
  count a tie or "both bad" as half a win each way, so it links both directions. Relative to
  a normalising set ``N`` (the anchor, or the models whose mean is 1000), model ``i``'s
  rating is bounded above iff every model of ``N`` reaches ``i`` through a chain of wins
  (then pushing ``i`` up also pushes up all of ``N``), and bounded below iff ``i`` reaches
  every model of ``N``.
- **The core** of a group is its largest strongly connected set (more models, then more
  games, then the lowest index): its ratings relative to each other are determined by the
  data. A group whose results hold no cycle at all (a single vote, a strict order) has no
  core of two or more models.

Reachability is the transitive closure of the win graph, computed by repeated squaring of the
boolean adjacency matrix, batched over bootstrap rounds: ``O(R M^3 log M)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def closure(adjacency: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of boolean ``(..., M, M)`` adjacency matrices.

    ``out[..., i, j]`` is True iff a directed path leads from ``i`` to ``j`` (or ``i == j``).
    """
    adj = np.asarray(adjacency, dtype=bool)
    m = adj.shape[-1]
    reach = adj | np.eye(m, dtype=bool)
    steps = 1
    while steps < m:
        nxt = reach @ reach
        if np.array_equal(nxt, reach):
            break
        reach = nxt
        steps *= 2
    return reach


def components(games: np.ndarray) -> np.ndarray:
    """Connected components of the comparison graph, as int64 labels (-1: no games).

    ``games[i, j] > 0`` links ``i`` and ``j``. Labels are 0, 1, ... ordered by size (most
    models first), then by number of games, then by lowest model index, so group 0 is the
    main leaderboard.
    """
    games = np.asarray(games, dtype=np.float64)
    linked = (games + games.T) > 0
    played = linked.any(axis=1)
    reach = closure(linked)
    label = np.full(len(games), -1, dtype=np.int64)
    found: list[np.ndarray] = []
    for i in np.flatnonzero(played):
        if label[i] < 0:
            members = np.flatnonzero(reach[i])
            label[members] = len(found)
            found.append(members)
    totals = [float(games[np.ix_(g, g)].sum()) for g in found]
    order = sorted(range(len(found)), key=lambda k: (-len(found[k]), -totals[k], found[k][0]))
    out = np.full(len(games), -1, dtype=np.int64)
    for new, old in enumerate(order):
        out[found[old]] = new
    return out


@dataclass(frozen=True, eq=False)
class Structure:
    """The comparison structure of one win table (indices into the table's models).

    Attributes:
        group: per model, its group (see :func:`components`), -1 without games.
        reach: ``reach[i, j]``: a chain of wins leads from ``i`` to ``j`` (reflexive).
        core: per model, True if it is in its group's core (see the module docstring).
        upper_open, lower_open: per model, whether the bound on that side is not determined
            by the data, relative to its group's normalising set (:meth:`reference`).
    """

    group: np.ndarray
    reach: np.ndarray
    core: np.ndarray
    upper_open: np.ndarray
    lower_open: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self.group) else 0

    def members(self, g: int) -> np.ndarray:
        return np.flatnonzero(self.group == g)

    def core_members(self, g: int) -> np.ndarray:
        return np.flatnonzero((self.group == g) & self.core)

    def reference(self, g: int) -> np.ndarray:
        """The models whose mean is the group's zero: its core, or all of it if it has none."""
        core = self.core_members(g)
        return core if len(core) else self.members(g)


def strong_blocks(reach: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    """The strongly connected sets among ``members``, largest first (then lowest index)."""
    sub = reach[np.ix_(members, members)]
    mutual = sub & sub.T
    seen = np.zeros(len(members), dtype=bool)
    blocks = []
    for k in range(len(members)):
        if not seen[k]:
            block = np.flatnonzero(mutual[k])
            seen[block] = True
            blocks.append(members[block])
    return sorted(blocks, key=lambda b: (-len(b), int(b[0])))


def structure(wins: np.ndarray) -> Structure:
    """Groups, reachability, cores and open sides of a ``(M, M)`` table of (fractional) wins."""
    wins = np.asarray(wins, dtype=np.float64)
    m = len(wins)
    games = wins + wins.T
    group = components(games)
    reach = closure(wins > 0)
    core = np.zeros(m, dtype=bool)
    upper_open = np.zeros(m, dtype=bool)
    lower_open = np.zeros(m, dtype=bool)
    for g in range(int(group.max()) + 1 if m else 0):
        members = np.flatnonzero(group == g)
        blocks = strong_blocks(reach, members)
        best = max(
            blocks,
            key=lambda b: (len(b), float(games[np.ix_(b, members)].sum()), -int(b[0])),
        )
        if len(best) >= 2:
            core[best] = True
            ref = best
        else:
            ref = members
        upper_open[members] = ~reach[np.ix_(ref, members)].all(axis=0)
        lower_open[members] = ~reach[np.ix_(members, ref)].all(axis=1)
    for arr in (group, reach, core, upper_open, lower_open):
        arr.flags.writeable = False
    return Structure(group, reach, core, upper_open, lower_open)


def determined_in_rounds(
    round_wins: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per bootstrap round and model, whether its upper / lower bound is determined.

    ``round_wins`` is ``(R, m, m)`` (the rounds' win tables over one group's core),
    ``reference`` indexes the normalising set within it. Returns two bool ``(R, m)`` arrays:
    ``upper[r, i]`` iff every reference model reaches ``i`` in round ``r``, ``lower[r, i]``
    iff ``i`` reaches every reference model. Rounds in which every pair won at least half a
    game each way are strongly connected and skip the closure (the usual case on large logs
    where every pair has met).
    """
    r, m = round_wins.shape[0], round_wins.shape[1]
    upper = np.ones((r, m), dtype=bool)
    lower = np.ones((r, m), dtype=bool)
    if m < 2 or r == 0:
        return upper, lower
    pos = round_wins > 0
    off = ~np.eye(m, dtype=bool)
    complete = (pos | ~off).all(axis=(1, 2))
    todo = np.flatnonzero(~complete)
    if len(todo):
        reach = closure(pos[todo])
        upper[todo] = reach[:, reference, :].all(axis=1)
        lower[todo] = reach[:, :, reference].all(axis=2)
    return upper, lower
