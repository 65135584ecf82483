"""The probe's SVM: solver picked by shape, both solvers at one optimum."""
import warnings

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from seco_mm.evaluation.probe_svm import (choose_dual, fit_and_evaluate,
                                          mean_class_accuracy,
                                          standardize_features,
                                          svm_objective)


def relu_features(n, dim, classes, seed, spread=3.0):
    """Non-negative, class-dependent features like pooled ReLU outputs."""
    rng = np.random.RandomState(seed)
    centres = np.abs(rng.randn(classes, dim)) * spread
    y = np.arange(n) % classes
    x = np.maximum(centres[y] + rng.randn(n, dim) * 2.0, 0)
    return x, y


def test_choose_dual_by_shape():
    assert choose_dual(306, 512)[0] is True  # the demo: 306 clips x 512
    assert choose_dual(240000, 2048)[0] is False  # Kinetics-400 train
    assert choose_dual(2048, 2048)[0] is False
    assert 'samples' in choose_dual(10, 20)[1]
    # raw (uncentred) features: the dual converges slowly, primal instead
    dual, reason = choose_dual(306, 512, centred=False)
    assert dual is False and 'not centred' in reason


@pytest.mark.parametrize('n,dim', [(90, 256), (400, 48)])
def test_dual_and_primal_reach_the_same_optimum(n, dim):
    """Both liblinear solvers minimise the same objective: on a wide
    (samples < features, like the demo) and a tall problem, 9 classes,
    their optima agree to 1e-4 and the val predictions match. (The demo's
    own shapes, 306 x 512 / 1024, are checked by
    benchmarks/bench_probe_svm.py --check-optimum: the primal takes minutes
    there.)"""
    x, y = relu_features(n, dim, 9, seed=dim)
    xv, yv = relu_features(252, dim, 9, seed=dim + 1)
    x, xv = standardize_features(x, xv, 'zscore')
    fits = {dual: LinearSVC(C=1.0, dual=dual, max_iter=20000,
                            tol=1e-5).fit(x, y) for dual in (True, False)}
    obj_dual = svm_objective(fits[True], x, y)
    obj_primal = svm_objective(fits[False], x, y)
    np.testing.assert_allclose(obj_dual, obj_primal, rtol=1e-4)
    assert np.array_equal(fits[True].predict(xv), fits[False].predict(xv))


def test_svm_objective_is_what_liblinear_minimises():
    """Perturbing the fitted weights can only raise the objective."""
    x, y = relu_features(120, 16, 3, seed=0)
    svm = LinearSVC(C=1.0, dual=False, tol=1e-8, max_iter=10000).fit(x, y)
    best = svm_objective(svm, x, y)
    rng = np.random.RandomState(0)
    coef, bias = svm.coef_.copy(), svm.intercept_.copy()
    for _ in range(5):
        svm.coef_ = coef + 1e-3 * rng.randn(*coef.shape)
        svm.intercept_ = bias + 1e-3 * rng.randn(*bias.shape)
        assert np.all(svm_objective(svm, x, y) >= best - 1e-9)


def test_fit_and_evaluate_records_the_solver():
    x, y = relu_features(90, 200, 3, seed=1)
    xv, yv = relu_features(30, 200, 3, seed=2)
    r = fit_and_evaluate(x, y, xv, yv, standardize='zscore')
    assert r['solver']['dual'] is True and r['solver']['converged']
    assert '90 samples < 200 features' in r['solver']['reason']
    raw = fit_and_evaluate(x, y, xv, yv)  # paper protocol: no scaling
    assert raw['solver']['dual'] is False
    assert 'not centred' in raw['solver']['reason']
    tall = fit_and_evaluate(x[:, :50], y, xv[:, :50], yv,
                            standardize='zscore')
    assert tall['solver']['dual'] is False
    forced = fit_and_evaluate(x, y, xv, yv, dual=True, standardize='zscore')
    assert forced['solver']['reason'] == 'forced dual=True'
    assert forced['top1'] == r['top1']


def test_solver_that_does_not_converge_falls_back():
    """The dual stopped after 2 passes: the primal is fitted and kept."""
    x, y = relu_features(60, 300, 3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = fit_and_evaluate(x, y, x, y, standardize='zscore', max_iter=2)
    s = r['solver']
    assert 'did not converge in 2 iterations, refitted with dual=False' in \
        s['reason']
    if s['converged']:  # primal Newton within 2 steps
        assert s['dual'] is False
    else:
        assert 'neither converged' in s['reason']


def test_dual_result_is_repeatable():
    """The dual solver's sample order is random: seeded, whatever numpy's
    global random state."""
    x, y = relu_features(60, 300, 3, seed=5)
    xv, yv = relu_features(200, 300, 3, seed=6)
    runs = []
    for seed in (1, 2):
        np.random.seed(seed)
        runs.append(fit_and_evaluate(x, y, xv, yv, max_iter=3, dual=True))
    assert runs[0]['solver']['dual']
    assert runs[0]['top1'] == runs[1]['top1']
    assert runs[0]['mean_class_acc'] == runs[1]['mean_class_acc']


def test_non_convergence_is_recorded():
    x, y = relu_features(300, 400, 9, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = fit_and_evaluate(x, y, x, y, max_iter=1, dual=True)
    assert r['solver']['converged'] is False and r['solver']['n_iter'] == 1


def test_scaling_and_metric_use_sklearn_definitions():
    rng = np.random.RandomState(0)
    tr, va = rng.rand(50, 4) * 10, rng.rand(7, 4) * 10
    z_tr, z_va = standardize_features(tr, va, 'zscore')
    np.testing.assert_allclose(z_tr.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z_va, (va - tr.mean(0)) / tr.std(0))
    l_tr, _ = standardize_features(tr, va, 'l2')
    np.testing.assert_allclose(np.linalg.norm(l_tr, axis=1), 1)
    # per-class recall over the classes in the labels; extra predicted
    # classes only count as errors
    label = np.array([0, 0, 1, 1])
    assert mean_class_accuracy(np.array([0, 5, 1, 1]), label) == 0.75
