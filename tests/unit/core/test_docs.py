"""The README's transition table is the one in the code."""

import pathlib

from qrun.core.diagram import markdown_table

README = pathlib.Path(__file__).resolve().parents[3] / "README.md"


def test_readme_transition_table_matches_the_code():
    text = README.read_text()
    start = text.index("<!-- transitions:start -->") + len("<!-- transitions:start -->")
    end = text.index("<!-- transitions:end -->")
    assert text[start:end].strip() == markdown_table(), "regenerate with qrun.core.diagram.markdown_table()"


def test_readme_state_diagram_matches_the_code():
    from qrun.core.diagram import state_diagram

    text = README.read_text()
    start = text.index("<!-- diagram:start -->") + len("<!-- diagram:start -->")
    end = text.index("<!-- diagram:end -->")
    drawn = text[start:end].strip().removeprefix("```mermaid").removesuffix("```").strip()
    assert drawn == state_diagram(), "regenerate with qrun.core.diagram.state_diagram()"
