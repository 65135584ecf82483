"""The probe's classifier: liblinear's L2-regularised L2-loss linear SVM.

scikit-learn's ``LinearSVC`` (one-vs-rest, C = 1 in the paper) solves the
same problem with two liblinear solvers: the primal trust-region Newton
method (``dual=False``, cost grows with n_samples x n_features per Newton
step) and dual coordinate descent (``dual=True``, one variable per sample).
Both minimise the same objective; :func:`choose_dual` picks the dual when
samples are fewer than features (the demo: ~100 videos x 512-1024 dims,
measured 40-60x faster there) and the primal otherwise (Kinetics-400:
240k videos x 2048), the rule scikit-learn's ``dual='auto'`` applies, made
explicit so the protocol JSON can record it.
"""
import time
from typing import Optional, Tuple

import numpy as np

__all__ = ['STANDARDIZE', 'choose_dual', 'standardize_features',
           'mean_class_accuracy', 'fit_and_evaluate', 'svm_objective']

STANDARDIZE = ('none', 'zscore', 'l2')


def choose_dual(n_samples: int, n_features: int,
                centred: bool = True) -> Tuple[bool, str]:
    """(dual?, reason): dual when n_samples < n_features and the features
    are centred (z-scored), else primal.

    Shape alone is not enough: on the demo's raw (uncentred, non-negative)
    frame-mean features, 306 x 512, the dual did not converge in 5000
    passes (95 s) while the primal converged in 20 Newton steps (1.7 s); on
    the z-scored 306 x 1024 'mean+diff' features the dual took 8.7 s and the
    primal 591 s (docs/linear_probe.md).
    """
    if n_samples >= n_features:
        return False, (f'primal Newton: {n_samples} samples >= {n_features} '
                       'features')
    if not centred:
        return False, (f'primal Newton: {n_samples} samples < {n_features} '
                       'features, but the features are not centred (the dual '
                       'converges slowly on them)')
    return True, (f'dual coordinate descent: {n_samples} samples < '
                  f'{n_features} features, z-scored')


def standardize_features(train_x: np.ndarray, val_x: np.ndarray,
                         mode: str) -> Tuple[np.ndarray, np.ndarray]:
    """Scale features before the SVM; statistics from the train set only.

    ``'none'`` (the paper), ``'zscore'`` (``StandardScaler`` fitted on
    train), ``'l2'`` (each row to unit norm, ``sklearn.preprocessing
    .normalize``). Inputs (N, D), outputs the same shapes.
    """
    from sklearn.preprocessing import StandardScaler, normalize
    if mode == 'none':
        return train_x, val_x
    if mode == 'zscore':
        scaler = StandardScaler().fit(train_x)
        return scaler.transform(train_x), scaler.transform(val_x)
    if mode == 'l2':
        return normalize(train_x), normalize(val_x)
    raise ValueError(f'standardize must be one of {STANDARDIZE}, got {mode!r}')


def mean_class_accuracy(pred: np.ndarray, label: np.ndarray) -> float:
    """Mean over the classes present in ``label`` of per-class recall
    (``sklearn.metrics.balanced_accuracy_score``)."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score
    with warnings.catch_warnings():  # predicted classes absent from val
        warnings.simplefilter('ignore', UserWarning)
        return float(balanced_accuracy_score(label, pred))


def svm_objective(svm, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-class primal objective of a fitted one-vs-rest ``LinearSVC``.

    liblinear appends a constant feature (``intercept_scaling``) whose
    weight is the bias, so the bias is regularised too:
    ``0.5 |[w, b/s]|^2 + C sum_i max(0, 1 - y_i (w.x_i + b))^2``.
    Returns (K,) for K > 2 classes, (1,) for 2.
    """
    classes = svm.classes_
    coef = np.atleast_2d(svm.coef_)
    bias = np.atleast_1d(svm.intercept_)
    s = svm.intercept_scaling
    out = []
    for k in range(len(coef)):
        pos = classes[1] if len(classes) == 2 else classes[k]
        t = np.where(y == pos, 1.0, -1.0)
        margin = 1 - t * (x @ coef[k] + bias[k])
        reg = 0.5 * (coef[k] @ coef[k] + (bias[k] / s) ** 2)
        out.append(reg + svm.C * np.sum(np.maximum(margin, 0) ** 2))
    return np.array(out)


def _fit(x, y, C, dual, max_iter):
    """One LinearSVC fit: (model, seconds, converged)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    # random_state: the dual solver visits samples in a random order;
    # fixed so that a probe is repeatable (the primal is deterministic)
    svm = LinearSVC(C=C, penalty='l2', loss='squared_hinge', dual=dual,
                    max_iter=max_iter, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', ConvergenceWarning)
        svm.fit(x, y)
    converged = not any(issubclass(w.category, ConvergenceWarning)
                        for w in caught)
    return svm, time.perf_counter() - start, converged


def fit_and_evaluate(train_x: np.ndarray, train_y: np.ndarray,
                     val_x: np.ndarray, val_y: np.ndarray, C: float = 1.0,
                     standardize: str = 'none', max_iter: int = 5000,
                     dual: Optional[bool] = None) -> dict:
    """Train a liblinear L2-reg. L2-loss SVM (OvR); score val.

    Args:
        train_x: (N, D) features; train_y: (N,) labels; same for val.
        dual: None picks by shape (:func:`choose_dual`); True/False forces.

    Returns:
        dict: ``top1``, ``mean_class_acc``, ``train_top1`` (in [0, 1]) and
        ``solver``: which liblinear solver ran, why, its iterations, whether
        it converged and the fit time in seconds.
    """
    if len(np.unique(train_y)) < 2:
        raise ValueError('the SVM needs at least 2 classes in the train set')
    tx, vx = standardize_features(np.asarray(train_x, np.float64),
                                  np.asarray(val_x, np.float64), standardize)
    if dual is None:
        dual, reason = choose_dual(*tx.shape, centred=standardize == 'zscore')
        svm, seconds, converged = _fit(tx, train_y, C, dual, max_iter)
        if not converged:  # safety net: the other solver, kept if it does
            other, sec2, conv2 = _fit(tx, train_y, C, not dual, max_iter)
            seconds += sec2
            reason += (f'; did not converge in {max_iter} iterations, '
                       f'refitted with dual={not dual}'
                       f'{"" if conv2 else " (neither converged)"}')
            if conv2:
                svm, dual, converged = other, not dual, True
    else:
        reason = f'forced dual={dual}'
        svm, seconds, converged = _fit(tx, train_y, C, dual, max_iter)
    if not converged:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        warnings.warn(f'LinearSVC did not converge in {max_iter} iterations '
                      f'({reason})', ConvergenceWarning)
    pred = svm.predict(vx)
    return dict(top1=float((pred == val_y).mean()),
                mean_class_acc=mean_class_accuracy(pred, val_y),
                train_top1=float((svm.predict(tx) == train_y).mean()),
                solver=dict(dual=bool(dual), reason=reason,
                            n_iter=int(np.max(svm.n_iter_)),
                            max_iter=max_iter, converged=converged,
                            fit_seconds=round(seconds, 3)))
