"""Docs generated from the template must match it."""

from __future__ import annotations

from scripts import gen_parameters_doc, gen_security_doc


def test_parameters_doc_is_fresh():
    assert gen_parameters_doc.main(["--check"]) == 0, "run `make docs`"


def test_security_doc_is_fresh():
    assert gen_security_doc.main(["--check"]) == 0, "run `make docs`"


def test_parameters_doc_lists_every_parameter():
    text = gen_parameters_doc.DOC_PATH.read_text(encoding="utf-8")
    template = gen_parameters_doc.load_template()
    for name in template["Parameters"]:
        assert f"| `{name}` |" in text
