from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.faq import detect_language, normalize


def test_full_width_case_and_punctuation_fold_away() -> None:
    assert normalize("ＳＨＩＰ　ＦＡＳＴ？！１２３") == "ship fast 123"


def test_traditional_becomes_simplified() -> None:
    assert normalize("請問什麼時候發貨？退貨運費誰出") == "请问什么时候发货 退货运费谁出"


def test_emoji_and_symbols_become_spaces() -> None:
    assert normalize("包邮吗😀😀🙏~~~") == "包邮吗"
    assert normalize("退款💰到账了吗") == "退款 到账了吗"


def test_long_runs_of_one_character_shrink_to_two() -> None:
    assert normalize("在吗在吗？？？啊啊啊啊 pleeeease") == "在吗在吗 啊啊 pleease"


def test_digits_survive_even_when_repeated() -> None:
    assert normalize("订单号 2000011111") == "订单号 2000011111"


def test_control_and_zero_width_characters_vanish() -> None:
    assert normalize("发\u200b货\x00了\ufeff吗") == "发 货 了 吗"


def test_language_detection() -> None:
    assert detect_language("when will it ship?") == "en"
    assert detect_language("什么时候发货") == "zh"
    assert detect_language("什麼時候出貨") == "zh-hant"
    assert detect_language("does the 羊毛大衣 shrink after washing in cold water?") == "en"
    assert detect_language("🙂") == "zh"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.characters(categories=["Cs", "Cc", "Cf", "Co"])))
def test_never_raises_and_leaves_no_edge_spaces(text: str) -> None:
    out = normalize(text)
    assert out == out.strip()
    assert "  " not in out
