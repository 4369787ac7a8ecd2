"""GradientBoostingClassifier() for every factor at once, grown as tensor operations (the GPU).

Why: disentanglement_lib's DCI fits scikit-learn's GradientBoostingClassifier() with default
settings per factor: 100 rounds of one depth-3 regression tree per class (one for two classes).
On dSprites-sized factors that is over 11,000 trees on 10,000 points, each a C loop that sorts
every node's values again; on a 16-core GPU host it was the slowest stage of eval (30 s). The
codes do not change between trees, so here they are sorted once, and all trees of a round (every
class of every factor) grow level by level as a few dozen tensor operations over all of them:
about 550 operations a round (counted on the CPU), none of which waits for the GPU. On a CPU
the same operations are slower than scikit-learn's loops (measured: docs/metrics.md), so DCI
uses this only on a GPU.

It is the same model: the same candidate cuts (between two sorted values more than 1e-7 apart,
thresholds at the midpoint as scikit-learn places them), the same squared-error gain, the same
reasons to leave a node unsplit (under two points, impurity at most machine epsilon, no
candidate), Newton-step leaves with Friedman's (K - 1)/K factor, the prior-based start and
scikit-learn's impurity importances. Sums are taken in another order, so the numbers agree to
rounding (tested against scikit-learn's trees), except where two cuts gain the same up to
rounding: scikit-learn then takes whichever its rounding or its random feature order (the
``random_state`` disentanglement_lib leaves unset) favours, and we the first cut of the lowest
feature. Such ties come up in nodes of a few points and move DCI's scores slightly
(docs/metrics.md has the measured differences).
"""

from __future__ import annotations

import numpy as np
import torch

from disentangle.errors import DisentangleError
from disentangle.evaluation.boosting import LEARNING_RATE, MAX_DEPTH, N_ROUNDS, prior_raw

FEATURE_THRESHOLD = 1e-7  # scikit-learn: values closer than this are not split apart
EPSILON = float(np.finfo(np.float64).eps)  # a node this pure is a leaf
# trees grown together at most: their (trees, codes, points) working tensors stay under this many
# elements (128 MiB each in float64), so a small GPU can fit a large problem
MAX_ELEMENTS = 2**24


class _Factor:
    """One factor's classes and the columns of its trees in the batch."""

    def __init__(self, labels: np.ndarray, first: int):
        self.classes, self.codes = np.unique(labels, return_inverse=True)
        k = self.classes.size
        if k < 2:
            raise DisentangleError("a factor to predict needs at least two classes")
        self.trees = k if k > 2 else 1  # scikit-learn: one tree per round for two classes
        self.columns = slice(first, first + self.trees)

    @property
    def binary(self) -> bool:
        return self.trees == 1

    def targets(self) -> np.ndarray:
        """(N, trees): 1 where a point is of the tree's class (of class 1 for two classes)."""
        if self.binary:
            return (self.codes == 1).astype(np.float64)[:, None]
        return np.eye(self.trees)[self.codes]

    def start(self) -> np.ndarray:
        """The raw prediction before any tree, as scikit-learn's."""
        return prior_raw(self.codes, self.classes.size)

    def probabilities(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw) if self.binary else torch.softmax(raw, dim=1)

    def decide(self, raw: np.ndarray) -> np.ndarray:
        """Class labels from raw predictions, with scikit-learn's rule at ties."""
        encoded = (raw[:, 0] >= 0).astype(int) if self.binary else np.argmax(raw, axis=1)
        return self.classes[encoded]


class _Round:
    """One round's trees: per level the feature, threshold and whether each node split; the
    leaves' values, indexed by the node a point reaches at the last level."""

    def __init__(self, features, thresholds, splits, values):
        self.features, self.thresholds, self.splits = features, thresholds, splits
        self.values = values  # (T, 2**MAX_DEPTH)

    @classmethod
    def joined(cls, parts: list[_Round]) -> _Round:
        """The trees of ``parts`` (grown apart) as one round, in order."""
        if len(parts) == 1:
            return parts[0]
        levels = range(len(parts[0].features))
        return cls(*([torch.cat([getattr(p, name)[level] for p in parts]) for level in levels]
                     for name in ("features", "thresholds", "splits")),
                   torch.cat([p.values for p in parts]))

    def leaves(self, x: torch.Tensor) -> torch.Tensor:
        """(T, N): the last-level node of every point in every tree. x: (N, F) float64."""
        node = torch.zeros(self.values.shape[0], x.shape[0], dtype=torch.long, device=x.device)
        for feature, threshold, split in zip(self.features, self.thresholds, self.splits):
            value = x.T.gather(0, feature.gather(1, node))  # (T, N)
            right = split.gather(1, node) & (value > threshold.gather(1, node))
            node = 2 * node + right
        return node


def _before_segment(cumulative: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """The inclusive cumulative sum just before each position's segment starts (0 for the
    first segment). cumulative: (T, F, N); first: (T, N) the segment's first position."""
    index = (first - 1).clamp(min=0).unsqueeze(1).expand_as(cumulative)
    return torch.where(first.unsqueeze(1) > 0, cumulative.gather(2, index),
                       torch.zeros((), dtype=cumulative.dtype, device=cumulative.device))


class _Grower:
    """Grows one round's trees (T of them) on the same points, level by level."""

    def __init__(self, x: torch.Tensor, order: torch.Tensor):
        self.x = x  # (N, F) float64, exact copies of the float32 codes
        self.order = order  # (F, N) each feature's points in ascending order

    def grow(self, residual: torch.Tensor, hessian: torch.Tensor, scale: torch.Tensor):
        """residual, hessian: (T, N); scale: (T,) the factor on the leaves' Newton step.
        Returns the round and the (T, F) importances (impurity decrease, unnormalised)."""
        t, n = residual.shape
        f = self.order.shape[0]
        dev = residual.device
        perm = self.order.unsqueeze(0).expand(t, f, n).contiguous()  # points by (node, value)
        node = torch.zeros(t, n, dtype=torch.long, device=dev)
        splittable = torch.ones(t, 1, dtype=torch.bool, device=dev)
        positions = torch.arange(n, device=dev)
        features, thresholds, splits, decrease = [], [], [], []
        stats = self._stats(node, residual, 1)
        for depth in range(MAX_DEPTH):
            nodes = 2 ** depth
            count, total, impurity = stats
            splittable = splittable & (count >= 2) & (impurity > EPSILON)
            first_of_node = (torch.cumsum(count, 1) - count).long()  # (T, nodes)
            at = node.gather(1, perm[:, 0])  # (T, N) the node of each sorted position
            first = first_of_node.gather(1, at)
            left_n = (positions - first + 1).unsqueeze(1)  # (T, 1, N) points left of a cut
            right_n = count.gather(1, at).unsqueeze(1) - left_n
            values = self.x.T.unsqueeze(0).expand(t, f, n).gather(2, perm)  # (T, F, N)
            cumulative = residual.unsqueeze(1).expand(t, f, n).gather(2, perm).cumsum(2)
            left_sum = cumulative - _before_segment(cumulative, first)
            right_sum = total.gather(1, at).unsqueeze(1) - left_sum
            gain = left_sum ** 2 / left_n + right_sum ** 2 / right_n.clamp(min=1)
            following = torch.cat([values[:, :, 1:], values[:, :, -1:]], 2)
            valid = ((right_n >= 1) & (following > values + FEATURE_THRESHOLD)
                     & splittable.gather(1, at).unsqueeze(1))
            gain = torch.where(valid, gain, torch.tensor(-np.inf, dtype=gain.dtype, device=dev))
            where = at.unsqueeze(1).expand(t, f, n).reshape(t, f * n)
            best = torch.full((t, nodes), -np.inf, dtype=gain.dtype, device=dev)
            best = best.scatter_reduce(1, where, gain.reshape(t, f * n), "amax")
            # the first cut of the lowest feature among equal gains
            key = torch.arange(f * n, device=dev).view(1, f, n).expand(t, f, n)
            winner = valid & (gain == best.gather(1, at).unsqueeze(1))
            key = torch.where(winner, key, f * n).reshape(t, f * n)
            chosen = torch.full((t, nodes), f * n, dtype=torch.long, device=dev)
            chosen = chosen.scatter_reduce(1, where, key, "amin")
            split = chosen < f * n
            feature = (chosen // n).clamp(max=f - 1)
            low = values.reshape(t, f * n).gather(1, chosen.clamp(max=f * n - 1))
            high = values.reshape(t, f * n).gather(1, (chosen + 1).clamp(max=f * n - 1))
            threshold = low / 2.0 + high / 2.0
            threshold = torch.where((threshold == high) | torch.isinf(threshold), low, threshold)
            # every point to its child: the left child keeps the points of a node not split
            value = self.x.T.gather(0, feature.gather(1, node))
            right = split.gather(1, node) & (value > threshold.gather(1, node))
            perm = self._partition(perm, right, node, at, first, count)
            node = 2 * node + right
            child = self._stats(node, residual, 2 * nodes)
            decrease.append(self._decrease(stats, child, split, feature, f))
            features.append(feature), thresholds.append(threshold), splits.append(split)
            splittable = split.repeat_interleave(2, 1)
            stats = child
        count, total, _ = stats
        hess = torch.zeros_like(total).scatter_add_(1, node, hessian)
        leaf_values = torch.where(
            hess.abs() < 1e-150 * count.clamp(min=1), torch.zeros_like(total),
            (total / count.clamp(min=1)) * scale.unsqueeze(1) / (hess / count.clamp(min=1)))
        fitted = _Round(features, thresholds, splits, leaf_values)
        return fitted, node, sum(decrease)

    @staticmethod
    def _stats(node, residual, nodes):
        """Per node: points, sum of residuals, squared-error impurity (scikit-learn's formula)."""
        shape = (residual.shape[0], nodes)
        count = torch.zeros(shape, dtype=residual.dtype, device=residual.device)
        count.scatter_add_(1, node, torch.ones_like(residual))
        total = torch.zeros_like(count).scatter_add_(1, node, residual)
        squares = torch.zeros_like(count).scatter_add_(1, node, residual * residual)
        safe = count.clamp(min=1)
        impurity = squares / safe - (total / safe) ** 2
        return count, total, impurity

    @staticmethod
    def _decrease(parent, child, split, feature, f):
        """(T, F): points x impurity of each split node less its children's, by feature."""
        count, _, impurity = parent
        c_count, _, c_impurity = child
        weighted = c_count * c_impurity
        drop = count * impurity - weighted[:, 0::2] - weighted[:, 1::2]
        drop = torch.where(split, drop, torch.zeros_like(drop))
        return torch.zeros(split.shape[0], f, dtype=drop.dtype,
                           device=drop.device).scatter_add_(1, feature, drop)

    @staticmethod
    def _partition(perm, right, node, at, first, count):
        """perm ordered by (child, value): a stable split of every node's run of positions."""
        t, f, n = perm.shape
        goes_right = right.gather(1, perm.view(t, f * n)).view(t, f, n)
        rights = goes_right.long().cumsum(2)
        rights = rights - _before_segment(rights, first)  # rights up to here in the node
        within = (torch.arange(n, device=perm.device) - first).unsqueeze(1)
        n_right = torch.zeros_like(count).scatter_add_(1, node, right.to(count.dtype))
        n_left = (count - n_right).long().gather(1, at).unsqueeze(1)
        start = first.unsqueeze(1)
        target = torch.where(goes_right, start + n_left + rights - 1,
                             start + within - rights)
        return torch.empty_like(perm).scatter_(2, target, perm)


class BatchedGradientBoosting:
    """``GradientBoostingClassifier()`` fitted to every column of ``y`` at once.

    ``importances()`` gives each factor's ``feature_importances_``, ``predict(x)`` each factor's
    predictions (N, K). ``device``: where the trees grow ("cpu" or a CUDA device)."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)

    def _codes(self, x) -> torch.Tensor:
        """(N, F) float64 on the device: exact copies of the codes as float32, the trees' input
        type in scikit-learn."""
        return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)).double().to(self.device)

    def fit(self, x, y) -> BatchedGradientBoosting:
        x = self._codes(x)
        y = np.asarray(y)
        self.factors, first = [], 0
        for j in range(y.shape[1]):
            self.factors.append(_Factor(y[:, j], first))
            first += self.factors[-1].trees
        dev, dtype = self.device, torch.float64
        targets = torch.as_tensor(np.concatenate([g.targets() for g in self.factors], 1),
                                  dtype=dtype, device=dev).T.contiguous()  # (T, N)
        self._start = torch.as_tensor(np.concatenate([g.start() for g in self.factors]),
                                      dtype=dtype, device=dev)
        scale = torch.as_tensor(np.concatenate([
            np.full(g.trees, 1.0 if g.binary else (g.trees - 1) / g.trees)
            for g in self.factors]), dtype=dtype, device=dev)
        raw = self._start.unsqueeze(1).expand_as(targets).clone()  # (T, N)
        grower = _Grower(x, torch.argsort(x, dim=0, stable=True).T.contiguous())
        per_chunk = max(1, MAX_ELEMENTS // (x.shape[0] * x.shape[1]))
        chunks = [slice(first, first + per_chunk) for first in range(0, targets.shape[0],
                                                                     per_chunk)]
        self.rounds = []
        self._importance = torch.zeros(targets.shape[0], x.shape[1], dtype=dtype, device=dev)
        for _ in range(N_ROUNDS):
            prob = self._probabilities(raw)
            residual = targets - prob
            prob = targets - residual  # as scikit-learn recovers it from the residual
            hessian = prob * (1 - prob)
            parts = [grower.grow(residual[trees], hessian[trees], scale[trees])
                     for trees in chunks]
            fitted = _Round.joined([part for part, _, _ in parts])
            leaf = torch.cat([leaf for _, leaf, _ in parts])
            raw += LEARNING_RATE * fitted.values.gather(1, leaf)
            self.rounds.append(fitted)
            self._importance += torch.cat([decrease for _, _, decrease in parts])
        self._train_raw = raw
        return self

    def _probabilities(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.cat([g.probabilities(raw[g.columns].T).T for g in self.factors], 0)

    def importances(self) -> list[np.ndarray]:
        """Per factor, its trees' impurity decrease by feature, normalised to sum to 1 (zeros
        when no tree split), as ``feature_importances_``."""
        out = []
        for g in self.factors:
            total = self._importance[g.columns].sum(0).cpu().numpy()
            out.append(total / total.sum() if total.sum() > 0 else np.zeros_like(total))
        return out

    def predict(self, x=None) -> np.ndarray:
        """(N, K) labels; the training points' when ``x`` is None."""
        raw = (self._train_raw if x is None else self._raw(x)).T.cpu().numpy()
        return np.stack([g.decide(raw[:, g.columns]) for g in self.factors], 1)

    def _raw(self, x) -> torch.Tensor:
        """(T, N) every tree column's raw prediction (scikit-learn's decision function)."""
        x = self._codes(x)
        raw = self._start.unsqueeze(1).expand(-1, x.shape[0]).clone()
        for fitted in self.rounds:
            raw += LEARNING_RATE * fitted.values.gather(1, fitted.leaves(x))
        return raw
