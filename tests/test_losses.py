"""Every loss term against values worked out by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from functools import partial

from unlearn.objectives import losses, per_token
from unlearn.objectives.sequence import ANSWER, answer_lengths, masked_mean, mean_nll, sequence_logprob, values_at

LN = math.log


def at_answers(function, logits, labels, reference=None):
    """A per-token function's values at the answer positions of whole logits, with their mask."""
    return values_at(function, ANSWER, logits, labels, reference_logits=reference)


def entropy_term(logits, attention_mask, form):
    function, where = losses.ME_FORMS[form]
    return losses.maximize_entropy(*values_at(function, where, logits, torch.zeros_like(attention_mask),
                                              attention_mask))


def two_token_example():
    """Vocab 2; labels [-100, 0, 1]: position 0 predicts token 0 with p=1/2, position 1 token 1 with p=3/4."""
    logits = torch.tensor([[[0.0, 0.0], [0.0, LN(3)], [5.0, -5.0]]])
    labels = torch.tensor([[-100, 0, 1]])
    return logits, labels


def test_sequence_numbers():
    logits, labels = two_token_example()
    assert sequence_logprob(logits, labels).item() == pytest.approx(LN(1 / 2) + LN(3 / 4))
    assert answer_lengths(labels).tolist() == [2]
    assert mean_nll(logits, labels).item() == pytest.approx((LN(2) + LN(4 / 3)) / 2)


def test_masked_mean_by_hand():
    assert masked_mean(torch.tensor([[1.0, 5.0, 3.0]]), torch.tensor([[1, 0, 1]])).item() == pytest.approx(2.0)
    assert masked_mean(torch.tensor([4.0]), torch.tensor([0])).item() == 0.0  # nothing counted


def test_gradient_ascent_is_minus_the_mean_nll():
    logits, labels = two_token_example()
    expected = -(LN(2) + LN(4 / 3)) / 2
    assert losses.gradient_ascent(*at_answers(per_token.logprob, logits, labels)).item() == pytest.approx(expected)


def test_npo():
    # -(2/0.1) * mean[log sigma(-0.1 * (-2 - -1)), log sigma(-0.1 * 0)] = 10 * (ln(1 + e^-0.1) + ln 2)
    value = losses.npo(torch.tensor([-2.0, -1.0]), torch.tensor([-1.0, -1.0]), beta=0.1)
    assert value.item() == pytest.approx(10 * (LN(1 + math.exp(-0.1)) + LN(2)))


def test_npo_at_the_reference_is_2_ln2_over_beta():
    assert losses.npo(torch.tensor([-7.0]), torch.tensor([-7.0]), beta=0.5).item() == pytest.approx(4 * LN(2))


def test_simnpo():
    # -(2/2) * log sigma(-(2/2) * -4 - 0.5) = ln(1 + e^-3.5)
    value = losses.simnpo(torch.tensor([-4.0]), torch.tensor([2]), beta=2.0, gamma=0.5)
    assert value.item() == pytest.approx(LN(1 + math.exp(-3.5)))


def test_dpo():
    # margin = (-3 - -4) - (-2 - -1) = 2; -(2/0.5) * log sigma(0.5 * 2) = 4 ln(1 + e^-1)
    value = losses.dpo(torch.tensor([-3.0]), torch.tensor([-4.0]), torch.tensor([-2.0]), torch.tensor([-1.0]), 0.5)
    assert value.item() == pytest.approx(4 * LN(1 + math.exp(-1)))


def test_answer_preservation():
    # -(1/1) * log sigma(-1 * (-1 - -3)) = ln(1 + e^2)
    value = losses.answer_preservation(torch.tensor([-1.0]), torch.tensor([-3.0]), beta=1.0)
    assert value.item() == pytest.approx(LN(1 + math.exp(2)))


def me_example():
    # position 0 uniform over 4 tokens, position 1 p = [1/2, 1/6, 1/6, 1/6], position 2 is padding
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [LN(3), 0.0, 0.0, 0.0], [9.0, 0.0, 0.0, 0.0]]])
    return logits, torch.tensor([[1, 1, 0]])


def test_maximize_entropy_paper_form():
    logits, mask = me_example()
    entropy = 0.5 * LN(2) + 0.5 * LN(6)  # H([1/2, 1/6, 1/6, 1/6])
    expected = (0.0 + (LN(4) - entropy)) / 2  # KL(P||U) = log K - H, padding excluded
    assert entropy_term(logits, mask, "paper").item() == pytest.approx(expected)


def padded_me_example():
    """Vocab 2, a right-padded batch of 2 sequences of length 3.

    Row 0 (3 real tokens): P_0 = [1/2, 1/2], P_1 = [1/4, 3/4], P_2 = [3/4, 1/4].
    Row 1 (2 real tokens, then padding): P_0 = [1/8, 7/8], P_1 = [7/8, 1/8], P_2 (padding) = [~1, ~0].
    """
    logits = torch.tensor([[[0.0, 0.0], [0.0, LN(3)], [LN(3), 0.0]],
                           [[0.0, LN(7)], [LN(7), 0.0], [9.0, -9.0]]])
    return logits, torch.tensor([[1, 1, 1], [1, 1, 0]])


# KL(U || P) = -ln 2 - (ln p + ln(1 - p)) / 2 for vocab 2:
KL_U_QUARTER = LN(4 / 3) / 2  # P = [1/4, 3/4]: -ln 2 + (ln 4 + ln 4/3) / 2
KL_U_EIGHTH = 2 * LN(2) - LN(7) / 2  # P = [1/8, 7/8]: -ln 2 + (ln 8 + ln 8/7) / 2
# KL(P || U) = ln 2 + p ln p + (1 - p) ln(1 - p)
KL_QUARTER_U = LN(2) + 0.25 * LN(0.25) + 0.75 * LN(0.75)
KL_EIGHTH_U = LN(2) + 0.125 * LN(0.125) + 0.875 * LN(0.875)


def test_maximize_entropy_code_form_counts_positions_whose_next_token_is_real():
    logits, mask = padded_me_example()
    # counted: row 0 t=0 (predicts token 1), t=1 (token 2); row 1 t=0 (token 1).
    # not counted: every t=2 (predicts nothing), row 1 t=1 (predicts padding), row 1 t=2 (padding).
    expected = (0.0 + KL_U_QUARTER + KL_U_EIGHTH) / 3
    assert expected == pytest.approx(0.185727, abs=1e-6)  # (0 + 0.143841 + 0.413339) / 3
    assert entropy_term(logits, mask, "code").item() == pytest.approx(expected, rel=1e-6)
    # row 1 with one real token: its first prediction (of token 1, now padding) no longer counts
    short = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert entropy_term(logits, short, "code").item() == pytest.approx(KL_U_QUARTER / 2, rel=1e-6)


def test_maximize_entropy_code_form_is_the_reference_kl_div():
    """Same number as the released ``get_me_loss`` written out with ``F.kl_div`` on shifted labels."""
    logits, mask = padded_me_example()
    soft = torch.softmax(logits[:, :-1], -1)
    kl = torch.nn.functional.kl_div((soft + 1e-12).log(), torch.full_like(soft, 1 / 2), reduction="none").sum(-1)
    keep = mask[:, 1:].float()
    reference = (kl * keep).sum() / keep.sum()
    assert entropy_term(logits, mask, "code").item() == pytest.approx(reference.item(), rel=1e-6)


def test_maximize_entropy_paper_form_on_the_padded_batch():
    logits, mask = padded_me_example()
    # every real position counts (row 0: t=0,1,2; row 1: t=0,1), padding does not
    expected = (0.0 + KL_QUARTER_U + KL_QUARTER_U + KL_EIGHTH_U + KL_EIGHTH_U) / 5
    assert entropy_term(logits, mask, "paper").item() == pytest.approx(expected, rel=1e-6)
    short = torch.tensor([[1, 1, 1], [1, 0, 0]])
    expected_short = (0.0 + KL_QUARTER_U + KL_QUARTER_U + KL_EIGHTH_U) / 4
    assert entropy_term(logits, short, "paper").item() == pytest.approx(expected_short, rel=1e-6)


def test_weighted_gradient_ascent():
    logits = torch.tensor([[[0.0, LN(3)], [0.0, 0.0]]])
    labels = torch.tensor([[-100, 1]])  # one scored position, p(y) = 3/4
    logp = at_answers(per_token.logprob, logits, labels)
    assert losses.weighted_gradient_ascent(*logp, 1.0).item() == pytest.approx(0.75 * LN(0.75))
    assert losses.weighted_gradient_ascent(*logp, 0.0).item() == pytest.approx(LN(0.75))  # = GA


def test_cross_entropy_unlearning():
    logits = torch.tensor([[[0.0, LN(2), LN(3)], [0.0, 0.0, 0.0]]])  # p = [1/6, 2/6, 3/6]
    labels = torch.tensor([[-100, 2]])  # target without token 2: q = [1/3, 2/3, 0]
    expected = -(1 / 3 * LN(1 / 6) + 2 / 3 * LN(2 / 6))
    values = at_answers(per_token.cross_entropy_without_true, logits, labels)
    assert losses.token_mean(*values).item() == pytest.approx(expected)


def undial(logits, reference, labels):
    return losses.token_mean(*at_answers(partial(per_token.undial_cross_entropy, strength=LN(3)), logits, labels,
                                         reference))


def test_undial():
    logits = torch.zeros(1, 2, 2)  # student p = [1/2, 1/2]
    reference = torch.zeros(1, 2, 2)
    labels = torch.tensor([[-100, 0]])  # adjusted reference [-ln 3, 0] -> q = [1/4, 3/4]
    assert undial(logits, reference, labels).item() == pytest.approx(LN(2))
    student = torch.tensor([[[-LN(3), 0.0], [0.0, 0.0]]])  # matches q: CE = H(q)
    expected = -(0.25 * LN(0.25) + 0.75 * LN(0.75))
    assert undial(student, reference, labels).item() == pytest.approx(expected)


def test_kl_to_reference():
    logits = torch.zeros(1, 2, 2)  # p = [1/2, 1/2]
    reference = torch.tensor([[[0.0, LN(3)], [0.0, 0.0]]])  # p_ref = [1/4, 3/4]
    labels = torch.tensor([[-100, 1]])
    expected = 0.25 * LN(0.25 / 0.5) + 0.75 * LN(0.75 / 0.5)
    values = at_answers(per_token.kl_from_reference, logits, labels, reference)
    assert losses.token_mean(*values).item() == pytest.approx(expected)
    same = at_answers(per_token.kl_from_reference, reference, labels, reference)
    assert losses.token_mean(*same).item() == pytest.approx(0.0, abs=1e-7)


def test_activation_distance():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    target = torch.zeros_like(hidden)
    mask = torch.tensor([[1, 0]])  # second token is padding
    assert losses.activation_distance(hidden, target, mask, "sum").item() == pytest.approx(5.0)
    assert losses.activation_distance(hidden, target, mask, "mean").item() == pytest.approx(2.5)


def test_saturation_importance():
    logits = torch.tensor([[[0.0, LN(3)], [0.0, 0.0]]])
    labels = torch.tensor([[-100, 1]])  # p(y) = 3/4: weight 0.75^2 * 0.25 with beta1 = 2, beta2 = 1
    logp = at_answers(per_token.logprob, logits, labels)
    assert losses.saturation_importance(*logp, 2.0, 1.0).item() == pytest.approx(0.75 ** 2 * 0.25 * LN(0.75))
    assert losses.saturation_importance(*logp, 0.0, 0.0).item() == pytest.approx(LN(0.75))  # = GA


def test_kl_uniform_to_model():
    uniform = torch.zeros(1, 2, 4)
    labels = torch.tensor([[-100, 1]])
    values = at_answers(per_token.kl_from_uniform, uniform, labels)
    assert losses.token_mean(*values).item() == pytest.approx(0.0, abs=1e-7)
    peaked = torch.tensor([[[0.0, LN(3), 0.0, 0.0], [0.0] * 4]])  # p = (1, 3, 1, 1) / 6
    expected = -math.log(4) - (3 * math.log(1 / 6) + math.log(3 / 6)) / 4
    values = at_answers(per_token.kl_from_uniform, peaked, labels)
    assert losses.token_mean(*values).item() == pytest.approx(expected, rel=1e-6)


def test_dual_ascent():
    assert losses.dual_ascent(1.0, 3.0, 2.0, 0.5) == pytest.approx(1.5)  # constraint violated: grows
    assert losses.dual_ascent(0.2, 1.0, 2.0, 0.5) == 0.0  # holds: decays, never below 0


def test_saturation_importance_pools_tokens_over_the_batch_as_open_unlearning():
    """Two rows with 1 and 2 answer tokens: the mean is over the 3 tokens, not of the 2 row means."""
    logits = torch.tensor([[[0.0, LN(3)], [0.0, 0.0], [0.0, 0.0]],   # row 0: p = 3/4 (then padding)
                           [[0.0, 0.0], [LN(3), 0.0], [0.0, 0.0]]])  # row 1: p = 1/2, then p = 3/4
    labels = torch.tensor([[-100, 1, -100], [-100, 1, 0]])
    term = lambda p: p ** 5 * (1 - p) * LN(p)  # noqa: E731  (beta1 5, beta2 1: open-unlearning's SatImp.yaml)
    expected = (term(0.75) + term(0.5) + term(0.75)) / 3
    logp = at_answers(per_token.logprob, logits, labels)
    assert losses.saturation_importance(*logp).item() == pytest.approx(expected)


def test_satimp_and_pdu_default_weights_are_their_authors():
    from unlearn.objectives.registry import parse_method
    from unlearn.training.forget import _weights
    from unlearn.training.forget_settings import ForgetSettings

    def weights(method, **given):
        return _weights(ForgetSettings(data="d", out="o", method=method, **given), parse_method(method))

    assert weights("SatImp+GD") == (0.1, 1.0)  # open-unlearning SatImp.yaml: gamma 0.1 forget, alpha 1 retain
    assert weights("PDU") == (1.0, 100.0)  # lambda0 = 100 (the authors' TOFU runs)
    assert weights("SatImp+GD", forget_weight=1.0, regularizer_weight=0.1) == (1.0, 0.1)  # the user's win


def margin_term(logits, mask):
    return losses.token_mean(per_token.squared_logit_margin(logits.flatten(0, 1)).view(mask.shape), mask)


def test_logit_margin_flattening():
    # position margins (max - mean): [1, 2, 6] -> 6 - 3 = 3; [0, 0, 0] -> 0; [4, 0, 2] -> 2 (not counted)
    logits = torch.tensor([[[1.0, 2.0, 6.0], [0.0, 0.0, 0.0], [4.0, 0.0, 2.0]]])
    mask = torch.tensor([[True, True, False]])
    assert margin_term(logits, mask).item() == pytest.approx((9 + 0) / 2)
    assert margin_term(logits + 7.0, mask).item() == pytest.approx(4.5)  # shift-invariant


def test_adaptive_steering_coefficient():
    frozen = torch.tensor([[[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]]])  # norms 5, 1, 10; the last token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert losses.adaptive_steering_coefficient(frozen, mask, 5.0).item() == pytest.approx(5 * (5 + 1) / 2)
