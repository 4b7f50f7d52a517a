"""The README's figures are generated from what make bench recorded (bench/figures.json), between markers:
a figure edited by hand, or a recording the README was not regenerated from, fails here."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.bench import bench_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def figures() -> ModuleType:
    return bench_module("figures")


def test_the_readme_blocks_are_what_the_recorded_figures_render(figures: ModuleType) -> None:
    readme = (ROOT / "README.md").read_text()
    recording = figures.load()
    for name in figures.BLOCKS:
        [found] = figures.blocks_in(readme, name)
        assert found == figures.block(name, recording), (
            f"README.md's {name} block is not bench/figures.json's: run `make figures` (or `make bench` to measure)"
        )


def test_every_figure_names_the_run_of_its_part_and_the_load_it_ran_under(figures: ModuleType) -> None:
    recording = figures.load()
    assert {figure.part for figure in recording.figures} == set(recording.parts) and len(recording.parts) >= 8
    for run in recording.parts.values():
        assert run["recorded_at"] and run["commit"] and run["cpus"] > 0
    assert all(len(figure.load) == 2 and min(figure.load) >= 0 for figure in recording.figures)
    assert {"decide_first", "combined"} <= recording.cost["modes"].keys()
    billed_modes = {run["mode"] for runs in recording.billing["scenarios"].values() for run in runs}
    assert billed_modes == set(recording.cost["modes"])
    assert [row["leads"] for row in recording.consent["sizes"]] == [1, 5, 20]


def test_a_run_of_one_part_replaces_that_parts_figures_and_keeps_the_others(figures: ModuleType) -> None:
    def figure(key: str, part: str, value: float) -> object:
        return figures.Figure(key, key, value, "x", part, (1.0, 1.0))

    def run(day: str) -> dict[str, object]:
        return {"recorded_at": day, "commit": "c", "dirty": False, "cpus": 2}

    older = figures.Recording(
        {"a": run("day 1"), "b": run("day 1"), "gone": run("day 1")},
        [figure("a.1", "a", 1), figure("b.1", "b", 1), figure("b.2", "b", 1), figure("gone.1", "gone", 1)],
        {"cost": {"mode": "kept"}, "billing": {"leads": 2}},
    )
    newer = figures.Recording({"b": run("day 2")}, [figure("b.1", "b", 2)], {"billing": {"leads": 3}})
    merged = older.merged(newer, ["a", "b"])
    assert [(f.key, f.value) for f in merged.figures] == [("a.1", 1), ("b.1", 2)]
    assert merged.parts == {"a": run("day 1"), "b": run("day 2")}
    assert merged.cost == {"mode": "kept"} and merged.billing == {"leads": 3}


def test_a_block_changed_by_hand_is_put_back_and_the_rest_of_the_readme_kept(figures: ModuleType) -> None:
    recording = figures.load()
    readme = (ROOT / "README.md").read_text()
    edited = re.sub(
        r"(<!-- cost:begin.*?\| DynamoDB writes \| )[0-9.]+", r"\g<1>1.00", readme, count=1, flags=re.DOTALL
    )
    assert edited != readme
    assert figures.rewrite(edited, recording) == readme
    moved = replace(recording.figures[0], value=recording.figures[0].value + 1)
    regenerated = figures.rewrite(readme, replace(recording, figures=[moved, *recording.figures[1:]]))
    assert regenerated != readme
    assert regenerated.split("<!-- bench:begin")[0] == readme.split("<!-- bench:begin")[0]


def test_a_part_never_recorded_renders_as_such_not_as_an_error(figures: ModuleType) -> None:
    empty = figures.Recording({}, [])
    assert "make bench PART=cost" in figures.block("cost", empty)
    assert "make bench PART=billing" in figures.block("billing", empty)
    assert "make bench PART=consent" in figures.block("consent", empty)


def test_a_readme_without_its_markers_is_refused(figures: ModuleType) -> None:
    readme = (ROOT / "README.md").read_text()
    with pytest.raises(ValueError, match="one cost block"):
        figures.rewrite(readme.replace("<!-- cost:end -->", ""), figures.load())


def test_a_figure_is_met_only_at_or_under_its_goal(figures: ModuleType) -> None:
    figure = figures.Figure("k", "label", 10.0, "WRU", "cost", (0.5, 1.0), goal=10.0)
    assert figure.verdict == "met"
    assert replace(figure, value=10.01).verdict == "**not met**"
    assert replace(figure, goal=None).verdict == ""


def test_a_cost_recording_with_the_anchoring_shows_its_lines_its_batch_and_its_storage(figures: ModuleType) -> None:
    """The README's cost block renders every billed line: once make bench records the anchoring, its
    lines, the anchor batch it assumed and the anchors' storage are in the block."""
    recorded = figures.load()
    cost = recorded.cost
    mode = cost["mode"]
    # The recording as it stood before the anchoring was billed: a block that claims nothing of it.
    unanchored = {
        path: {
            **{key: value for key, value in bill.items() if not key.startswith("anchor_")},
            "lines": [line for line in bill["lines"] if "anchor" not in line["key"].lower()],
        }
        for path, bill in cost["modes"][mode].items()
    }
    inputs = {key: value for key, value in cost["inputs"].items() if key != "entries_per_anchor_batch"}
    before = {**cost, "inputs": inputs, "modes": {**cost["modes"], mode: unanchored}}
    recording = replace(recorded, tables={**recorded.tables, "cost": before})
    anchored = {
        path: {
            **bill,
            "lines": [
                *bill["lines"],
                {"key": "kms:anchors", "label": "KMS GenerateMac, anchors", "dollars": 0.09, "detail": "0.03 requests"},
            ],
            "anchor_bytes": 340.0,
            "anchor_storage_per_million_per_month": 0.007,
        }
        for path, bill in unanchored.items()
    }
    tables = {
        **recording.tables,
        "cost": {
            **before,
            "inputs": {**inputs, "entries_per_anchor_batch": 100.0},
            "modes": {**cost["modes"], mode: anchored},
        },
    }
    block = figures.block("cost", replace(recording, tables=tables))
    assert "| KMS GenerateMac, anchors | 0.09 (0.03 requests) |" in block
    assert "100 chain entries' writes per AnchorFunction batch" in block
    assert "evidence anchors (S3 Standard), $ per million per month held | 0.33 KB, 0.007 |" in block
    assert "AnchorFunction" not in figures.block("cost", recording)  # recorded before: nothing claimed
