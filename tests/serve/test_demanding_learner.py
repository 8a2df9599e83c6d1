"""What a demanding learner's audit of the pages found (2026-12-07): links with numbers at the edge of float64, and
the other edge inputs each page takes. Each test failed on the code before its fix."""

from __future__ import annotations

from .browser import EXAMPLE_Q, params


def test_geoff_a_link_whose_temperature_float64_reads_as_0_is_refused_not_argmax(page):
    """/geoff?T=1e-400 showed argmax's numbers under "0 (argmax)" while its URL said T=1e-400: the page read the
    link's T with JavaScript's Number, which makes 1e-400 a 0, where `dlexam geoff --temperature 1e-400` and the API
    refuse it (float64 holds no such number: limits.float_text). The link's T now stands in the T field as typed, and
    the API's refusal is said, as it is for 1e-400 typed there; a T of 0 written otherwise (0.0, -0, 0e5) is argmax
    still."""
    page.watch.refusals_expected = True
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=1e-400")
    page.wait_for_selector("body[data-state=error]")
    assert page.is_checked("#t-num") and page.input_value("#t-value") == "1e-400"
    assert "1e-400 is too small" in page.text_content("#error") and params(page)["T"] == "1e-400"
    for zero in ("0.0", "-0", "0e5"):
        page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={zero}")
        page.wait_for_selector("body[data-state=ready]")
        assert page.is_checked("#t-zero"), zero
