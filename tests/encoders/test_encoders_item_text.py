from encoders.item_text import build_item_text

ORDER = ("title", "genres", "plot")


def test_fields_are_joined_in_the_given_order_with_readable_genres():
    fields = {"plot": "Toys come alive.", "title": "Toy Story", "genres": "Animation|Children's|Comedy"}
    assert build_item_text(fields, ORDER) == "Toy Story. Animation, Children's, Comedy. Toys come alive."
    assert build_item_text(fields, ("plot", "title")) == "Toys come alive.. Toy Story"


def test_missing_and_blank_fields_are_skipped():
    assert build_item_text({"title": "Heat", "genres": "", "plot": "  "}, ORDER) == "Heat"
    assert build_item_text({"title": "Heat", "plot": None}, ORDER) == "Heat"  # type: ignore[dict-item]
    assert build_item_text({"genres": "Drama"}, ORDER) == "Drama"


def test_nothing_left_gives_empty_text():
    assert build_item_text({"title": " ", "year": "1995"}, ORDER) == ""
