"""Board definitions: found by name as the gateway finds them, answered in its shape, and drawable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdlogkit.boards import PINS, Board, BoardError, load_board, shipped_boards
from pdlogkit.errors import PdlogkitError

SHIPPED = ["misl_v3", "misl_v4", "misl_v4.1", "misl_v5", "misl_v6", "misl_v6.1", "misl_v6.2", "misl_v7.0"]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and a home without any board of its own."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_eight_real_definitions_ship_with_pdlogkit():
    assert shipped_boards() == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_definition_loads_from_an_empty_folder_with_plausible_electrodes(name, elsewhere):
    board = load_board(name)
    assert board.source == f"pdlogkit:{name}"
    assert 48 <= len(board.electrodes) <= PINS
    assert all(0 <= pin < PINS for pin in board.electrodes)
    assert set(board.oversized_electrodes) <= set(board.electrodes)
    for pin, electrode in board.electrodes.items():
        assert electrode.pin == pin and electrode.outlines
        for outline in electrode.outlines:
            assert len(outline) >= 3 and _area(outline) > 0
            for x, y in outline:
                assert board.extent.min_x <= x <= board.extent.max_x
                assert board.extent.min_y <= y <= board.extent.max_y
    assert board.extent.width > 0 and board.extent.height > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_no_two_electrodes_overlap(name):
    """Drawn outlines of different pins never cover the same spot (checked at each outline's centre)."""
    board = load_board(name)
    outlines = [(pin, outline) for pin, e in board.electrodes.items() for outline in e.outlines]
    for pin, outline in outlines:
        cx = sum(x for x, _ in outline) / len(outline)
        cy = sum(y for _, y in outline) / len(outline)
        if not _inside((cx, cy), outline):
            continue  # a concave pad whose vertex mean falls outside it
        covering = {other for other, shape in outlines if other != pin and _inside((cx, cy), shape)}
        assert not covering, f"pin {pin} at ({cx:.2f}, {cy:.2f}) is also under pins {covering}"


def test_the_gateway_answer_of_an_old_definition_has_one_grid_and_templates_filled_in():
    board = load_board("misl_v4.1")
    answer = board.gateway_definition()
    assert set(answer) == {"layout", "oversized_electrodes"}
    assert set(answer["layout"]) == {"grids", "peripherals"}
    [grid] = answer["layout"]["grids"]
    raw = json.loads(Path(board_file("misl_v4.1")).read_text())
    assert grid["origin"] == [0.0, 0.0] and grid["pitch"] == 1.0
    assert grid["pins"] == [[None if p in (-1, None) else p for p in row] for row in raw["layout"]["grid"]]
    first = answer["layout"]["peripherals"][0]
    assert first["type"] == "reservoirC" and first["rotation"] == 180.0
    assert [e["id"] for e in first["electrodes"]] == ["A", "B"]
    assert first["electrodes"][1] == {
        "id": "B",
        "pin": 13,
        "polygon": [[-0.5, -0.5], [1.5, -0.5], [1.5, 0.5], [-0.5, 0.5]],
        "origin": [0.0, 0.0],
    }
    assert answer["oversized_electrodes"] == [12, 56, 116, 75]
    json.dumps(answer, allow_nan=False)


def test_the_gateway_answer_of_a_new_definition_keeps_its_grids_and_peripherals():
    raw = json.loads(Path(board_file("misl_v6")).read_text())
    answer = load_board("misl_v6").gateway_definition()
    assert answer["layout"]["grids"] == raw["layout"]["grids"]
    assert answer["layout"]["peripherals"] == raw["layout"]["peripherals"]
    assert answer["oversized_electrodes"] == []  # the file has none


def test_a_definition_in_the_gateway_shape_loads_to_the_same_board():
    """What a recorder stores in a log's metadata is the answer: loading it again changes nothing."""
    for name in SHIPPED:
        board = load_board(name)
        again = Board(board.gateway_definition(), "metadata")
        assert again.gateway_definition() == board.gateway_definition()
        assert again.electrodes == board.electrodes


def test_a_rotated_peripheral_electrode_is_turned_about_its_peripheral_origin():
    """misl_v4.1, reservoir 1 (origin -0.5, 0.5; rotation 180), pad B: the square [-0.5, 1.5] x [-0.5, 0.5]."""
    [outline] = load_board("misl_v4.1").electrodes[13].outlines
    assert [(round(x, 9), round(y, 9)) for x, y in outline] == [(0.0, 1.0), (-2.0, 1.0), (-2.0, 0.0), (0.0, 0.0)]


def test_grid_cells_sit_at_origin_plus_column_and_row_times_pitch():
    board = load_board("misl_v6")  # first grid: origin (7.5, 4.5), pitch 3.75
    grid = board.grids[0]
    row, column = next((r, c) for r, pins in enumerate(grid["pins"]) for c, pin in enumerate(pins) if pin is not None)
    pin = grid["pins"][row][column]
    x, y = 7.5 + column * 3.75, 4.5 + row * 3.75
    assert board.electrodes[pin].outlines[0] == ((x, y), (x + 3.75, y), (x + 3.75, y + 3.75), (x, y + 3.75))


def test_an_oversized_electrode_of_an_old_board_has_an_outline_per_cell():
    board = load_board("misl_v3")  # pin 113 covers five cells in the top-right corner
    assert len(board.electrodes[113].outlines) == 5
    cx, cy = board.electrodes[113].center
    assert 9 < cx < 11 and 0 < cy < 3


def test_names_resolve_as_the_gateway_does_path_then_user_folder_then_shipped(elsewhere):
    mine = {"layout": {"grids": [{"origin": [0, 0], "pitch": 2, "pins": [[5, 6]]}]}}
    user = elsewhere / "home" / ".config" / "purpledrop" / "boards"
    user.mkdir(parents=True)
    (user / "misl_v6.json").write_text(json.dumps(mine))  # the user's own wins over the shipped one
    assert load_board("misl_v6").pins == [5, 6]
    assert load_board("misl_v6").source == str(user / "misl_v6.json")
    (Path.cwd() / "local.json").write_text(json.dumps(mine))
    assert load_board("local").source == "local.json"  # NAME.json in the working folder
    assert load_board("local.json").pins == [5, 6]
    assert load_board(Path.cwd() / "local.json").pins == [5, 6]
    assert load_board("misl_v7.0.json").source == "pdlogkit:misl_v7.0"


def test_an_unknown_name_says_everything_that_was_tried(elsewhere):
    with pytest.raises(BoardError) as info:
        load_board("misl_v99")
    message = str(info.value)
    assert "misl_v99" in message and "misl_v99.json" in message and ".config/purpledrop/boards" in message
    assert "misl_v6" in message  # the shipped names
    assert isinstance(info.value, PdlogkitError)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{oops", "is not valid JSON"),
        ("[1, 2]", "is a JSON object"),
        ('{"board": 1}', '"layout"'),
        ('{"layout": {"grid": [[1, 200]]}}', "from 0 to 127"),
        ('{"layout": {"grid": [[1, "x"]]}}', "pin number"),
        ('{"layout": {"grids": [{"pitch": 1, "pins": [[1]]}]}}', "missing field 'origin'"),
        (
            '{"layout": {"grids": [], "peripherals": [{"type": "r", "electrodes": [{"id": "A", "pin": 3}]}]}}',
            "polygon",
        ),
    ],
)
def test_a_bad_definition_is_a_board_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BoardError, match=expected) as info:
        load_board(str(path))
    assert str(path) in str(info.value)


def board_file(name: str) -> Path:
    return Path(__file__).resolve().parent.parent / "pdlogkit" / "boards" / f"{name}.json"


def _area(outline) -> float:
    return (
        abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(outline, outline[1:] + outline[:1], strict=True))) / 2
    )


def _inside(point, outline) -> bool:
    """Even-odd rule, points on an edge count as outside."""
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(outline, outline[1:] + outline[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside
