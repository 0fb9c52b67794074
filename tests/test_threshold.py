"""Threshold search: exactness against brute force, the paper's algorithms, baselines, input errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lava_ternary.convert import conversion_error, optimal_threshold


def brute_force(a: np.ndarray, T: int, error: str) -> float:
    """min C_m over theta by evaluating every breakpoint and, for L2, every piece's stationary point."""
    pos = np.sort(a[a > 0])
    k = np.arange(1, T + 1)
    edges = (T * pos[:, None] / (k - 0.5)).ravel()
    kinks = (T * pos[:, None] / k).ravel()
    cands = np.unique(np.concatenate([edges, kinks, [2 * T * pos[-1] + 1.0]]))
    if error == "l2":
        mids = (cands[:-1] + cands[1:]) / 2
        for lo, mid, hi in zip(cands[:-1], mids, cands[1:]):
            n = np.clip(np.floor((T * pos + mid / 2) / mid), 0, T)
            if n.any():
                cands = np.append(cands, np.clip(T * np.sum(n * pos) / np.sum(n * n), lo, hi))
    return min(conversion_error(a, T, t, t / 2, error) for t in cands)


activation_arrays = st.integers(1, 25).flatmap(
    lambda n: st.lists(st.one_of(st.just(0.0), st.floats(0.01, 10.0)), min_size=n, max_size=n)).filter(
    lambda v: any(x > 0 for x in v)).map(np.array)


@settings(max_examples=150)
@given(a=activation_arrays, T=st.sampled_from([1, 2, 3, 8]), error=st.sampled_from(["l1", "l2"]))
def test_exact_matches_brute_force(a, T, error):
    res = optimal_threshold(a, T, error=error)
    assert res.v0 == pytest.approx(res.theta / 2)
    assert res.error == pytest.approx(brute_force(a, T, error), rel=1e-9, abs=1e-12)
    assert res.error == pytest.approx(conversion_error(a, T, res.theta, res.v0, error), rel=1e-9, abs=1e-12)


def test_exact_on_duplicated_quantised_values():
    a = np.repeat(np.arange(0, 17, dtype=np.float64), 500)
    for T in (1, 4):
        res = optimal_threshold(a, T)
        assert res.error == pytest.approx(brute_force(np.arange(17.0), T, "l1"), rel=1e-9)


@pytest.mark.parametrize("error", ["l1", "l2"])
def test_exact_matches_vectorised_brute_force_on_medium_sample(error):
    """Large enough (4800 breakpoints at T = 8) that the branch and bound splits and prunes intervals."""
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.lognormal(0.0, 1.0, 300), np.zeros(50)])
    T = 8
    pos = np.sort(a[a > 0])
    k = np.arange(1, T + 1)
    cands = np.unique(np.concatenate([(T * pos[:, None] / (k - 0.5)).ravel(), (T * pos[:, None] / k).ravel()]))
    if error == "l2":
        mids = (cands[:-1] + cands[1:]) / 2
        n = np.clip(np.floor((T * pos[None, :] + mids[:, None] / 2) / mids[:, None]), 0, T)
        with np.errstate(invalid="ignore", divide="ignore"):
            stat = T * (n * pos).sum(1) / (n * n).sum(1)
        cands = np.concatenate([cands, np.clip(np.nan_to_num(stat), cands[:-1], cands[1:])])
    n = np.clip(np.floor((T * pos[None, :] + cands[:, None] / 2) / cands[:, None]), 0, T)
    d = np.abs(pos[None, :] - cands[:, None] * n / T)
    brute = ((d if error == "l1" else d * d).sum(1) / a.size).min()
    assert optimal_threshold(a, T, error=error).error == pytest.approx(brute, rel=1e-9)


def algorithm1_reference(a: np.ndarray):
    """Thm 4.2 / Algorithm 1 written out: for each n0, n1 = n0 + (N - n0)//2, error by direct sums."""
    pos = np.sort(a[a > 0])
    N = len(pos)
    best = None
    for n0 in range(1, N - 1):
        n1 = n0 + (N - n0) // 2
        theta = pos[n1 - 1]
        err = pos[:n0 - 1].sum() + np.abs(pos[n0 - 1:] - theta).sum()
        if best is None or err < best[0]:
            best = (err, theta, theta - pos[n0 - 1])
    return best


@settings(max_examples=30)
@given(a=st.lists(st.floats(0.01, 10.0), min_size=4, max_size=40, unique=True).map(np.array))
def test_paper_t1_reproduces_algorithm1(a):
    err, theta, v0 = algorithm1_reference(a)
    res = optimal_threshold(a, 1, method="paper")
    assert (res.theta, res.v0) == pytest.approx((theta, v0))
    assert res.error == pytest.approx(conversion_error(a, 1, res.theta, res.v0), rel=1e-9)
    assert res.error <= err / a.size + 1e-9


def test_paper_algorithm2_is_candidate_search_and_exact_is_no_worse():
    rng = np.random.default_rng(3)
    a = rng.gamma(2.0, size=400)
    pos = np.sort(a)
    for T in (2, 4):
        cand = pos[len(pos) // 2:len(pos) - 4]
        errs = [conversion_error(a, T, t, t / 2) for t in cand]
        res = optimal_threshold(a, T, method="paper")
        assert res.theta == cand[int(np.argmin(errs))]
        assert res.error == pytest.approx(min(errs))
        assert optimal_threshold(a, T).error <= res.error + 1e-12


def test_baselines():
    a = np.concatenate([np.zeros(100), np.linspace(0.001, 1.0, 1000)])
    r = optimal_threshold(a, 4, method="max")
    assert r.theta == 1.0 and r.v0 == 0.5
    assert r.error == pytest.approx(conversion_error(a, 4, 1.0, 0.5))
    r0 = optimal_threshold(a, 4, method="max", init="zero")
    assert r0.v0 == 0.0 and r0.error > r.error
    p = optimal_threshold(a, 4, method="p99.9")
    assert p.theta == pytest.approx(np.percentile(np.linspace(0.001, 1.0, 1000), 99.9))
    assert optimal_threshold(a, 4).error <= min(r.error, p.error)


def test_signed_uses_magnitudes():
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    res = optimal_threshold(a, 3, signed=True)
    ref = optimal_threshold(np.abs(a), 3)
    assert (res.theta, res.error) == (ref.theta, ref.error)
    assert res.error == pytest.approx(conversion_error(a, 3, res.theta, res.v0, signed=True))


def test_per_channel_equals_separate_searches():
    rng = np.random.default_rng(2)
    a = np.maximum(rng.normal(size=(16, 3, 5, 5)) * np.array([0.5, 1.0, 4.0])[None, :, None, None], 0)
    res = optimal_threshold(a, 4, error="l2", axis=1)
    assert res.theta.shape == (3,)
    for c in range(3):
        one = optimal_threshold(a[:, c], 4, error="l2")
        assert res.theta[c] == one.theta and res.error[c] == one.error
    assert np.all(np.diff(res.theta) > 0)


@pytest.mark.parametrize("bad, match", [
    (np.array([]), "empty"),
    (np.zeros(10), "all zero"),
    (np.array([1.0, np.nan]), "NaN"),
    (np.array([1.0, np.inf]), "NaN or inf"),
    (np.array([1.0, -1.0]), ">= 0"),
])
def test_bad_activations(bad, match):
    with pytest.raises(ValueError, match=match):
        optimal_threshold(bad, 2)


def test_bad_parameters():
    a = np.ones(5)
    for kwargs, match in [({"T": 0}, "T must"), ({"T": 1.5}, "T must"), ({"T": 2, "error": "l3"}, "error"),
                          ({"T": 2, "method": "best"}, "method"), ({"T": 2, "init": "one"}, "init"),
                          ({"T": 2, "method": "paper", "init": "zero"}, "init"),
                          ({"T": 2, "init": "zero"}, "init")]:
        with pytest.raises(ValueError, match=match):
            optimal_threshold(a, **kwargs)
    with pytest.raises(ValueError, match="channel 1"):
        optimal_threshold(np.array([[1.0, 2.0], [0.0, 0.0]]), 2, axis=0)
