"""Parsing messy LLM generations into clean, distinct queries."""

from qcpt.querygen.parsing import QueryFilter, QueryPool, clean_line, parse_generation
from qcpt.querygen.prompts import echo_texts, render_alpaca

PASSAGE = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is "
    "named after the engineer Gustave Eiffel, whose company designed and built the tower."
)


def test_clean_line_strips_numbering_bullets_labels_and_quotes():
    cases = {
        "1. what is the eiffel tower": "what is the eiffel tower",
        "2) who built it": "who built it",
        "(3) eiffel tower height": "eiffel tower height",
        "Query 4: eiffel tower paris": "eiffel tower paris",
        "Q5. tower location": "tower location",
        "- where is the champ de mars": "where is the champ de mars",
        "* gustave eiffel biography": "gustave eiffel biography",
        "• iron lattice towers": "iron lattice towers",
        '"when was it built?"': "when was it built?",
        "“famous paris landmarks”": "famous paris landmarks",
        "- 6. \"Query: eiffel   tower\tfacts\"": "eiffel tower facts",
        "**eiffel tower tickets**": "eiffel tower tickets",
        "Output: eiffel tower hours": "eiffel tower hours",
        "  1.5 million visitors per year  ": "1.5 million visitors per year",
        '"eiffel tower height"?': "eiffel tower height?",
        '"unterminated quote': "unterminated quote",
    }
    for raw, expected in cases.items():
        assert clean_line(raw) == expected, raw


def test_parse_list_generation():
    generation = (
        "Here are ten search queries for the passage:\n"
        "\n"
        "1. What is the Eiffel Tower?\n"
        "2. who designed the eiffel tower\n"
        "3. what is the eiffel tower\n"           # duplicate of 1 (case, punctuation)
        "4.\n"                                     # empty after numbering
        "5. ---\n"                                 # no letters
        "6) " + "very long query " * 20 + "\n"     # over-long
        "### Instruction:\n"                       # echoed template
        "Generate ten search queries for the following passage\n"  # echoed instruction
        "7. " + PASSAGE.split(". ")[1] + "\n"      # copied sentence of the passage
        "8. 'champ de mars location'\n"
        "9. eiffel tower constr"                   # cut off by the length cap
    )
    prompt = render_alpaca(PASSAGE)
    qf = QueryFilter(max_chars=160, max_words=20, echo_texts=echo_texts("alpaca-zeroshot"))
    out = parse_generation(generation, truncated=True, query_filter=qf, prompt_text=prompt)
    assert out == ["What is the Eiffel Tower?", "who designed the eiffel tower", "champ de mars location"]
    # Not truncated: the last line is complete and kept.
    out = parse_generation(generation, truncated=False, query_filter=qf, prompt_text=prompt)
    assert out[-1] == "eiffel tower constr"


def test_parse_single_takes_first_line_only():
    assert parse_generation("  how tall is the eiffel tower\nNote: extra chatter", single=True) == [
        "how tall is the eiffel tower"]
    assert parse_generation("\n\n", single=True) == []
    # docT5query output cut by max_length is still its query (the paper keeps it).
    assert parse_generation("eiffel tower paris", single=True, truncated=True) == ["eiffel tower paris"]


def test_no_tab_or_newline_survives():
    out = parse_generation("a\tquery\x0bwith\u2028odd\x00whitespace", single=True)
    assert out == ["a query with odd whitespace"]
    for q in parse_generation("1. x\ty\r\n2. z\r3. w"):
        assert "\t" not in q and "\n" not in q and "\r" not in q


def test_short_copied_phrases_are_not_echoes():
    qf = QueryFilter()
    prompt = render_alpaca(PASSAGE)
    assert qf.accept("gustave eiffel", prompt)
    assert qf.accept("who designed the eiffel tower in paris france", prompt)
    assert not qf.accept("It is named after the engineer Gustave Eiffel, whose company designed", prompt)


def test_query_pool_dedups_and_caps():
    pool = QueryPool(3)
    assert pool.add(["A b", "a B.", "c"]) == 2
    assert pool.missing == 1 and not pool.full
    assert pool.add(["d", "e"]) == 1
    assert pool.full and pool.queries == ["A b", "c", "d"]
