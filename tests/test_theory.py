"""Tests of the theory side (the paper's section 1): each against an independent route.

Tolerances: identities of float64 arithmetic (the metric, Definition 6, the
push-forward, Theorem 7's Hessian) are held to 1e-10 relative, where rounding leaves
about 1e-14. ODE paths are held to 1e-7: the solver's rtol = atol = 1e-10 per step,
accumulated over a few hundred steps. Monte Carlo comparisons are held to 5 standard
errors per component (a false alarm about once in 1.7 million per component).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import singdyn  # noqa: F401  (turns on float64)
from singdyn import theory, theory_plots
from singdyn.losses import make_loss
from singdyn.network import (
    Theta,
    Xi,
    predict_flat,
    swap_units,
    theta_to_xi,
    xi_from_flat,
    xi_to_flat,
)

EXAMPLE1 = np.array([0.2, 0.0, 0.3, 0.5])  # (a, b, v, w), no biases, NLL
EXAMPLE2 = np.array([0.0, 0.0, 0.0, 3.0, 0.0, 0.5])  # (a, c, b, v, d, w), MSE
EXAMPLE3 = np.asarray(
    xi_to_flat(
        theta_to_xi(
            Theta(
                np.array([4.8, 0.0]),
                np.array([5.0, -10.0]),
                np.array(0.5),
                np.array(0.4),
            )
        )
    )
)
AB = {False: ("a", "b"), True: ("a", "c", "b")}


def random_xi(rng, bias):
    k = 2 if bias else 1
    w = rng.uniform(0.3, 1.3) * rng.choice([-1, 1])
    return np.concatenate(
        [rng.normal(size=k), [rng.uniform(-2, 2)], rng.normal(size=k), [w]]
    )


def relative(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return np.max(np.abs(x - y)) / max(np.max(np.abs(x)), np.max(np.abs(y)))


@pytest.fixture(scope="module")
def fit1():
    return theory.best_one_unit_fit(EXAMPLE1, bias=False)


@pytest.fixture(scope="module")
def fit3():
    return theory.best_one_unit_fit(EXAMPLE3, bias=True)


# --- the averaged loss ----------------------------------------------------------------


def test_quadrature_weights_give_the_uniform_mean_of_polynomials():
    pop = theory.population(EXAMPLE1, bias=False, x_range=(-3, 3))
    # <x^4> over Uniform[-3, 3] is 3^4 / 5; Gauss-Legendre is exact for degree <= 399.
    assert np.sum(pop.weights * pop.nodes**4) == pytest.approx(81 / 5, rel=1e-13)
    assert np.sum(pop.weights) == pytest.approx(1.0, rel=1e-14)


def test_averaged_loss_at_the_teacher_is_the_noise_term():
    sigma = 0.05
    mse = theory.averaged_loss(
        EXAMPLE1, EXAMPLE1, bias=False, loss="mse", noise_std=sigma
    )
    nll = theory.averaged_loss(
        EXAMPLE1,
        EXAMPLE1,
        bias=False,
        loss=make_loss("gaussian_nll", variance=2.0),
        noise_std=sigma,
    )
    assert float(mse) == pytest.approx(sigma**2, rel=1e-14)
    expected = 0.5 * sigma**2 / 2.0 + 0.5 * np.log(2 * np.pi * 2.0)
    assert float(nll) == pytest.approx(expected, rel=1e-14)


def test_200_quadrature_nodes_are_converged():
    point = np.array([0.3, -0.2, 0.4, 4.0, -3.0, 0.8])
    values = [
        theory.averaged_loss(point, EXAMPLE3, bias=True, loss="mse", n_nodes=n)
        for n in (200, 400)
    ]
    assert float(values[0]) == pytest.approx(float(values[1]), rel=1e-12)


@pytest.mark.parametrize(
    ("teacher", "bias", "loss"),
    [(EXAMPLE1, False, "gaussian_nll"), (EXAMPLE3, True, "mse")],
)
def test_gradient_matches_the_mean_gradient_of_a_large_sample(teacher, bias, loss):
    rng = np.random.default_rng(7)
    point = teacher + 0.1 * rng.normal(size=teacher.size)
    sigma, n = 0.05, 200_000
    x = rng.uniform(-3, 3, size=n)
    y = np.asarray(predict_flat(teacher, x, bias)) + sigma * rng.standard_normal(n)
    per_example = make_loss(loss).per_example

    def one(params, xi, yi):
        f = predict_flat(params, xi[None], bias)[0]
        return per_example(f, yi)

    grads = np.asarray(jax.vmap(jax.grad(one), (None, 0, 0))(jnp.asarray(point), x, y))
    mean = grads.mean(axis=0)
    standard_error = grads.std(axis=0, ddof=1) / np.sqrt(n)
    exact = np.asarray(
        theory.averaged_loss_grad(point, teacher, bias=bias, loss=loss, noise_std=sigma)
    )
    assert np.all(np.abs(exact - mean) < 5 * standard_error)


def test_averaged_loss_is_symmetric_under_swapping_the_units():
    rng = np.random.default_rng(3)
    point = random_xi(rng, True)
    swapped = np.asarray(xi_to_flat(swap_units(xi_from_flat(point, True))))
    values = [theory.averaged_loss(p, EXAMPLE3, bias=True) for p in (point, swapped)]
    assert float(values[0]) == pytest.approx(float(values[1]), rel=1e-13)


# --- the metric and the learning equations --------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
def test_metric_closed_form_equals_autodiff(bias):
    rng = np.random.default_rng(1)
    for _ in range(4):
        point = random_xi(rng, bias)
        auto = theory.metric_autodiff(point, bias)
        assert relative(auto, theory.metric_closed_form(point, bias)) < 1e-10


@pytest.mark.parametrize(("teacher", "bias"), [(EXAMPLE1, False), (EXAMPLE3, True)])
def test_paper_form_is_the_push_forward_of_the_theta_flow(teacher, bias):
    rng = np.random.default_rng(2)
    for _ in range(3):
        point = random_xi(rng, bias)
        paper = theory.flow_field(point, teacher, bias=bias, form="paper")
        theta = theory._theta_flat_of(jnp.asarray(point), bias)
        jac = jax.jacfwd(theory._xi_flat_of)(theta, bias)
        theta_field = theory.flow_field(theta, teacher, bias=bias, form="theta")
        assert relative(paper, jac @ theta_field) < 1e-10


def test_definition6_holds_with_l_as_minus_the_gradient():
    rng = np.random.default_rng(4)
    point = random_xi(rng, True)
    gradient = theory.averaged_loss_grad(point, EXAMPLE3, bias=True, loss="mse") / 2
    field = theory.flow_field(point, EXAMPLE3, bias=True, form="paper", loss="mse") / 2
    assert relative(field, theory.paper_rates(point, -gradient, True)) < 1e-10
    # With l = +gradient every rate flips sign: the reading matters.
    assert relative(field, -theory.paper_rates(point, gradient, True)) < 1e-10


def numpy_ab_field(y, teacher, nodes=200):
    """-d L_half / d(a, b) for the network without biases, by hand and NumPy alone."""
    t, weights = np.polynomial.legendre.leggauss(nodes)
    x, weights = 3 * t, weights / 2

    def net(a, b, v, w):
        u1, u2 = v + a * (b - 1) / 2, v + a * (b + 1) / 2
        w31, w32 = w * (1 + b) / 2, w * (1 - b) / 2
        s1, s2 = 1 - np.tanh(u1 * x) ** 2, 1 - np.tanh(u2 * x) ** 2
        f = w31 * np.tanh(u1 * x) + w32 * np.tanh(u2 * x)
        df_da = w31 * s1 * x * (b - 1) / 2 + w32 * s2 * x * (b + 1) / 2
        df_db = w / 2 * (np.tanh(u1 * x) - np.tanh(u2 * x))
        df_db = df_db + a / 2 * x * (w31 * s1 + w32 * s2)
        return f, df_da, df_db

    error = net(*teacher)[0] - net(*y)[0]
    _, df_da, df_db = net(*y)
    return np.array([weights @ (error * df_da), weights @ (error * df_db), 0.0, 0.0])


def test_xi_flow_matches_a_numpy_scipy_solve_and_keeps_frozen_coordinates():
    start = np.array([0.15, -1.5, 0.3, 0.5])
    flow = theory.averaged_flow(
        start, EXAMPLE1, bias=False, t1=400.0, n_points=101, trainable=("a", "b")
    )
    assert flow.success.all() and flow.message == ("success",)
    assert np.all(flow.path[0, :, 2:] == start[2:])
    reference = scipy.integrate.solve_ivp(
        lambda t, y: numpy_ab_field(y, EXAMPLE1),
        (0, 400.0),
        start,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
    )
    assert np.max(np.abs(flow.path[0, -1] - reference.y[:, -1])) < 1e-7


def test_theta_flow_and_paper_flow_give_the_same_paths():
    starts = np.array([[0.15, -1.8, 0.3, 0.5], [0.05, 0.2, 0.3, 0.5]])
    theta = theory.averaged_flow(
        starts, EXAMPLE1, bias=False, t1=30.0, form="theta", n_points=7
    )
    paper = theory.averaged_flow(
        starts, EXAMPLE1, bias=False, t1=30.0, form="paper", n_points=7
    )
    assert theta.success.all() and paper.success.all()
    assert np.max(np.abs(theta.path - paper.path)) < 1e-7
    assert theta.path.shape == (2, 7, 4)


def test_xi_field_respects_the_swap_symmetry():
    rng = np.random.default_rng(5)
    point = random_xi(rng, True)
    swap = np.diag([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])  # (a, c, b) change sign
    field = theory.flow_field(point, EXAMPLE3, bias=True)
    swapped = theory.flow_field(swap @ point, EXAMPLE3, bias=True)
    assert relative(swapped, swap @ field) < 1e-12


# --- (v*, w*), H and Theorem 7 --------------------------------------------------------


def test_one_unit_teacher_is_its_own_best_fit():
    fit = theory.best_one_unit_fit(EXAMPLE2, bias=True)
    assert fit.on_singularity and fit.success
    assert np.allclose(fit.v, [3.0, 0.0], atol=1e-10) and abs(fit.w - 0.5) < 1e-10
    h = theory.h_matrix(fit.v, fit.w, EXAMPLE2, bias=True)
    assert np.max(np.abs(h)) < 1e-12
    verdict = theory.theorem7_verdict(np.linalg.eigvalsh(h), on_singularity=True)
    assert verdict.b2_below_1 == verdict.b2_above_1 == "stable"


def test_best_fit_is_a_stationary_point_below_the_teachers_own_unit(fit1, fit3):
    for fit, teacher, bias in ((fit1, EXAMPLE1, False), (fit3, EXAMPLE3, True)):
        assert fit.success and fit.gradient_norm < 1e-12
        xi = xi_from_flat(teacher, bias)
        k = xi.v.size
        one_unit = np.concatenate(
            [np.zeros(k + 1), xi.v, [xi.w]]
        )  # a = 0: w tanh(v.x~)
        mean_square = theory.averaged_loss(
            one_unit, teacher, bias=bias, loss="mse", noise_std=0.0
        )
        assert fit.residual_rms < np.sqrt(float(mean_square))


def test_h_matrix_equals_autodiff_of_phi(fit3):
    pop = theory.population(EXAMPLE3, bias=True)

    def phi(v, x):
        return jnp.tanh(v[0] * x + v[1])

    hessians = jax.vmap(jax.hessian(phi), (None, 0))(jnp.asarray(fit3.v), pop.nodes)
    error = pop.targets - fit3.w * jax.vmap(phi, (None, 0))(fit3.v, pop.nodes)
    expected = fit3.w / 4 * jnp.einsum("n,n,nij->ij", pop.weights, error, hessians)
    h = theory.h_matrix(fit3.v, fit3.w, EXAMPLE3, bias=True)
    assert relative(h, expected) < 1e-12


@pytest.mark.parametrize(
    ("loss", "scale"),
    [
        (make_loss("gaussian_nll"), 1.0),
        (make_loss("gaussian_nll", variance=4.0), 0.25),
        (make_loss("mse"), 2.0),
    ],
)
def test_theorem7_hessian_is_minus_c_one_minus_b2_h(fit3, loss, scale):
    assert theory.loss_scale(loss) == scale
    h = theory.h_matrix(fit3.v, fit3.w, EXAMPLE3, bias=True)
    for b in (0.3, -1.6):
        hessian = theory.loss_hessian_in_a(fit3, b, EXAMPLE3, bias=True, loss=loss)
        assert relative(hessian, -scale * (1 - b**2) * h) < 1e-10


@pytest.mark.parametrize(
    ("eigenvalues", "expected"),
    [
        ([-1.0, 2.0], ("unstable", "unstable")),
        ([-1.0, -2.0], ("stable", "unstable")),
        ([1.0, 2.0], ("unstable", "stable")),
        ([0.5], ("unstable", "stable")),
    ],
)
def test_theorem7_verdict_cases(eigenvalues, expected):
    verdict = theory.theorem7_verdict(eigenvalues, on_singularity=False)
    assert (verdict.b2_below_1, verdict.b2_above_1) == expected


def test_stability_verdict_agrees_with_the_flow(fit3):
    h = theory.h_matrix(fit3.v, fit3.w, EXAMPLE3, bias=True)
    records = theory.stability_by_flow(
        fit3, h, EXAMPLE3, bias=True, loss="mse", b_values=(0.5, -1.8)
    )
    assert [r["observed"] for r in records] == ["unstable", "unstable"]
    for record in records:
        assert record["agree"]
        # Near R0 the growth is the linear one, exp(c (1 - b^2) lambda t), to 2 %.
        assert np.allclose(record["ratios"], record["linear_ratios"], rtol=0.02)


def test_example1_h_is_positive_so_r0_is_unstable_inside_and_stable_outside(fit1):
    """Example 1 (the paper's section 2): H is 1x1 and positive (about +4.57e-6), so
    Theorem 7 makes the part of R0 with b^2 < 1 unstable and the part with b^2 > 1
    stable: the two parts differ, and the flow must tell them apart."""
    h = theory.h_matrix(fit1.v, fit1.w, EXAMPLE1, bias=False)
    assert h.shape == (1, 1)
    # The sign and size only: the value is pinned by the Hessian check below.
    assert 1e-6 < h[0, 0] < 1e-5
    records = theory.stability_by_flow(
        fit1,
        h,
        EXAMPLE1,
        bias=False,
        loss="gaussian_nll",
        b_values=(0.5, -0.5, 1.8, -1.8),
    )
    expected = {0.5: "unstable", -0.5: "unstable", 1.8: "stable", -1.8: "stable"}
    for record in records:
        want = expected[record["b"]]
        assert record["predicted"] == want, record
        assert record["observed"] == want, record
        assert record["agree"]
        # observed says |a| grew (ratio > 1) or shrank (< 1) over a run of
        # log_change = 1, that is by a factor near e: far from 1 either way.
        ratio = record["ratios"][0]
        assert ratio > 2 if want == "unstable" else ratio < 0.5


@pytest.mark.parametrize("b", [0.0, 0.5, -0.7, 1.8, -2.5])
def test_theorem7_hessian_example1_without_biases(fit1, b):
    """The Hessian in a of the averaged Gaussian NLL (c = 1) at (0, b, v*, w*) is
    -(1 - b^2) H, H = (w*/4) <e tanh''(v* x) x^2>, for the 1x1 case. Autodiff of the
    averaged loss is the independent route. The values are about 1e-6 to 3e-5; they
    come from errors e of about 3e-4, so rounding (1e-17 on the outputs) leaves about
    1e-12 relative: 1e-10 as for the other float64 identities."""
    h = theory.h_matrix(fit1.v, fit1.w, EXAMPLE1, bias=False)
    hessian = theory.loss_hessian_in_a(
        fit1, b, EXAMPLE1, bias=False, loss=make_loss("gaussian_nll")
    )
    assert hessian.shape == (1, 1)
    assert relative(hessian, -(1 - b**2) * h) < 1e-10


def test_one_batched_solve_equals_separate_solves():
    """averaged_flow solves M starts as one vmapped solve; each path must be the one
    its start gives alone. The rows share no state: each has its own step-size
    controller, so only the order of sums in the batched quadrature may differ (about
    1e-16 relative per field value). Should that flip a step's acceptance, the paths
    differ by the controller's local error, rtol = atol = 1e-10 per step; over the few
    hundred steps here 1e-9 bounds that, while the paths of different starts differ
    by 1e-2 or more (so mixed-up rows would be caught)."""
    starts = np.array(
        [[a, b, 0.3, 0.5] for (a, b) in ((0.15, -1.8), (0.15, -1.5), (0.05, 0.0))]
        + [[0.7, -0.6, 0.3, 0.5], [0.7, -0.8, 0.3, 0.5]]
    )
    settings = dict(bias=False, t1=2000.0, n_points=41, trainable=("a", "b"))
    batched = theory.averaged_flow(starts, EXAMPLE1, **settings)
    assert batched.path.shape == (5, 41, 4)
    assert batched.success.all()
    for i, start in enumerate(starts):
        alone = theory.averaged_flow(start, EXAMPLE1, **settings)
        assert alone.success.all() and alone.message == ("success",)
        assert np.max(np.abs(batched.path[i] - alone.path[0])) < 1e-9
        assert np.array_equal(batched.times, alone.times)
    ends = batched.path[:, -1, :2]
    gaps = np.abs(ends[:, None] - ends[None]).max(axis=-1)
    assert np.all(gaps[~np.eye(5, dtype=bool)] > 1e-2)


# --- reduced dynamics and first integrals ---------------------------------------------


def test_stated_reduced_dynamics_conserves_theorem8_r0_only(fit1):
    h = theory.h_matrix(fit1.v, fit1.w, EXAMPLE1, bias=False)
    starts = np.array([[0.05, 0.5], [0.05, -1.8]])
    t1 = 1 / (2 * 0.75 * h[0, 0])
    _, path, ok = theory.reduced_flow(starts, h, fit1.w, t1=t1, variant="stated")
    assert ok.all()
    drift = theory.first_integral_drift(path, False, fit1.w)
    assert np.all(drift["theorem8_r0"] < 1e-8)  # solver tolerance 1e-12
    assert np.all(drift["theorem8_r0_r1"] > 1e-2)
    assert np.all(drift["xi_gradient"] > 1e-2)


@pytest.mark.parametrize("variant", ["r0_r1", "xi_gradient"])
def test_each_reduced_variant_conserves_its_own_integral(fit3, variant):
    h = theory.h_matrix(fit3.v, fit3.w, EXAMPLE3, bias=True)
    start = np.array([0.03, -0.02, 1.7])
    _, path, ok = theory.reduced_flow(start, h, fit3.w, t1=100.0, variant=variant)
    name = {"r0_r1": "theorem8_r0_r1", "xi_gradient": "xi_gradient"}[variant]
    assert ok.all() and theory.first_integral_drift(path, True, fit3.w)[name][0] < 1e-8


def test_exact_flow_of_the_networks_follows_the_xi_gradient_integral(fit3):
    # Only a and b move, (v*, w*) fixed: h changes by O(h) while h - (b^2/2 - log|b|)
    # stays within 1 % of h; Theorem 8's integrals move by O(h).
    h = theory.h_matrix(fit3.v, fit3.w, EXAMPLE3, bias=True)
    direction = np.linalg.eigh(h)[1][:, 0]
    start = fit3.xi(0.01 * direction, 0.5)
    flow = theory.averaged_flow(
        start,
        EXAMPLE3,
        bias=True,
        t1=200.0,
        n_points=101,
        trainable=AB[True],
        loss="mse",
    )
    drift = theory.first_integral_drift(flow.path, True, fit3.w)
    energy = 0.5 * np.sum(flow.path[0, :, :2] ** 2, axis=-1)
    assert np.max(np.abs(energy - energy[0])) / energy[0] > 0.5
    assert drift["xi_gradient"][0] < 0.01
    assert drift["theorem8_r0"][0] > 0.1 and drift["theorem8_r0_r1"][0] > 0.1


def test_closed_form_verdicts_for_example3(fit3):
    checks = theory.check_closed_forms(
        EXAMPLE3, bias=True, loss="mse", fit=fit3, n_points=2
    )
    fails = {
        "definition6_rates_with_gradient",
        "l_v_at_optimum",
        "l_w_at_optimum",
        "reduced_b_dot",
        "theorem7_hessian_as_stated",
        "theorem8_r0_r1",
    }
    assert {name for name, c in checks.items() if not c["holds"]} == fails
    for name in (
        "metric_JJT",
        "definition6_rates",
        "paper_form_is_pushforward",
        "theorem7_hessian",
        "theorem8_r0",
    ):
        assert checks[name]["max_rel_error"] < 1e-10
    # The missing terms make the paper's forms wrong at their leading order, a^2.
    assert checks["l_w_at_optimum"]["order"] == pytest.approx(2.0, abs=0.1)
    assert checks["l_w_at_optimum_corrected"]["order"] == pytest.approx(3.0, abs=0.1)
    json.dumps(checks, allow_nan=False)


# --- figures --------------------------------------------------------------------------


def test_overlay_flow_draws_the_b_a_coordinates():
    import matplotlib.pyplot as plt

    path = np.array([[[0.1, -1.5, 0.3, 0.5], [0.05, -1.4, 0.3, 0.5]]])  # (1, 2, 4)
    figure, ax = plt.subplots()
    lines = theory_plots.overlay_flow(ax, path, bias=False)
    theory_plots.draw_critical_lines(ax)
    assert np.array_equal(lines[0].get_xdata(), [-1.5, -1.4])
    assert np.array_equal(lines[0].get_ydata(), [0.1, 0.05])
    drawn = {tuple(line.get_xdata()) for line in ax.lines if len(line.get_xdata()) == 2}
    assert (-1.0, -1.0) in drawn and (1.0, 1.0) in drawn  # b = -1 and b = +1
    theory_plots.close(figure)


def test_first_integrals_figure_has_a_panel_per_integral(tmp_path):
    flow = theory.Flow(
        times=np.array([0.0, 1.0]),
        path=np.array([[[0.2, 0.5, 0.3, 0.5], [0.1, 0.45, 0.3, 0.5]]]),
        success=np.array([True]),
        message=("success",),
        names=("a", "b", "v", "w"),
        form="xi",
    )
    figure = theory_plots.first_integrals_figure(flow, 0.45, bias=False)
    assert len(figure.axes) == len(theory.FIRST_INTEGRALS)
    figure.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000
    theory_plots.close(figure)


# --- bad input ------------------------------------------------------------------------


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="form must be one of"):
        theory.averaged_flow(EXAMPLE1, EXAMPLE1, bias=False, t1=1.0, form="natural")
    with pytest.raises(ValueError, match="trainable must name some of"):
        theory.averaged_flow(EXAMPLE1, EXAMPLE1, bias=False, t1=1.0, trainable=["z"])
    with pytest.raises(ValueError, match=r"starts must have shape \(M, 4\)"):
        theory.averaged_flow(np.zeros(6), EXAMPLE1, bias=False, t1=1.0)
    with pytest.raises(ValueError, match="t1 must be > 0"):
        theory.averaged_flow(EXAMPLE1, EXAMPLE1, bias=False, t1=0.0)
    with pytest.raises(ValueError, match="x_low < x_high"):
        theory.population(EXAMPLE1, bias=False, x_range=(3, -3))
    with pytest.raises(ValueError, match=r"of shape \(6,\)"):
        theory.population(EXAMPLE1, bias=True)
    with pytest.raises(ValueError, match="first integral must be one of"):
        theory.first_integral("energy", np.zeros((1, 1)), np.ones(1), 1.0)


def test_teacher_accepts_an_xi():
    xi = Xi(a=np.array([0.2]), b=np.array(0.0), v=np.array([0.3]), w=np.array(0.5))
    assert np.array_equal(theory.teacher_flat(xi, False), EXAMPLE1)
