"""The shared validation layer: accepted values come back converted, refused ones name the value and the range."""

import numpy as np
import pytest

from flatland_env.validation import check_choice, check_int, check_nonnegative_int, check_number, check_positive_int


def test_integers_come_back_as_python_ints():
    assert check_int("n", np.int64(3)) == 3 and type(check_int("n", np.int64(3))) is int
    assert check_nonnegative_int("n", 0) == 0
    assert check_int("n", 5, minimum=2, maximum=5) == 5


@pytest.mark.parametrize("value", [True, 1.0, "2", None, 0, -1, np.bool_(True)])
def test_positive_int_refuses_what_is_not_a_count(value):
    with pytest.raises(ValueError, match=r"n must be a positive integer, got"):
        check_positive_int("n", value)


def test_integer_ranges_name_their_bounds():
    with pytest.raises(ValueError, match=r"k must be an integer >= 2, got 1"):
        check_int("k", 1, minimum=2)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 4\], got 5"):
        check_int("k", 5, maximum=4)


def test_numbers_are_finite_and_in_their_interval():
    assert check_number("p", 1) == 1.0 and type(check_number("p", 1)) is float
    assert check_number("p", 0.5, 0.0, 1.0) == 0.5
    for bad in (float("nan"), float("inf"), -0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"p must be a finite number in \[0, 1\]"):
            check_number("p", bad, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"lr must be a finite number in \(0, 1\]"):
        check_number("lr", 0.0, 0.0, 1.0, low_open=True)


def test_choices_list_what_is_allowed():
    assert check_choice("mode", "rgb", ("grey", "rgb")) == "rgb"
    with pytest.raises(ValueError, match=r"mode must be one of grey, rgb, got 'hsv'"):
        check_choice("mode", "hsv", ("grey", "rgb"))
