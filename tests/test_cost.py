"""bench/cost.py: the README's cost table is the script's output, and its figures hang together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import cost
from stacks.settings import Settings

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- cost-table:start -->", "<!-- cost-table:end -->"


@pytest.fixture(scope="module")
def table() -> str:
    return cost.cost_table()


@pytest.fixture(scope="module")
def totals() -> dict[str, float]:
    return {w.name: sum(cost.monthly_costs(w).values()) for w in cost.workloads()}


def test_the_readme_shows_the_scripts_table(table: str):
    readme = (REPO / "README.md").read_text()
    assert START in readme, f"README.md has no {START} ... {END} block"
    assert END in readme, f"README.md has no {START} ... {END} block"
    shown = readme[readme.index(START) + len(START):readme.index(END)]
    assert shown.strip() == table.strip(), (
        "README.md's cost table differs from `.venv/bin/python bench/cost.py`: paste its output "
        "between the cost-table markers")


def test_the_workloads_are_the_defaults_at_two_resolutions():
    names = [w.name for w in cost.workloads()]
    assert names == ["10 symbols, every event", f"10 symbols, {cost.RESOLUTION_SECONDS} s",
                     "whole market, every event", f"whole market, {cost.RESOLUTION_SECONDS} s"]
    for workload in cost.workloads():
        settings = workload.settings
        assert (settings.shard_count, settings.consumer_batch_size,
                settings.consumer_batching_window_seconds,
                settings.consumer_parallelization_factor) == (
            Settings.shard_count, Settings.consumer_batch_size,
            Settings.consumer_batching_window_seconds, Settings.consumer_parallelization_factor)


def test_the_whole_market_costs_more_and_a_coarser_table_less(totals: dict[str, float]):
    every, coarse = "whole market, every event", f"whole market, {cost.RESOLUTION_SECONDS} s"
    assert totals[every] > totals[coarse]
    for ten in ("10 symbols, every event", f"10 symbols, {cost.RESOLUTION_SECONDS} s"):
        assert totals[ten] < totals[coarse] < totals[every]
    assert totals[f"10 symbols, {cost.RESOLUTION_SECONDS} s"] < totals["10 symbols, every event"]


def test_the_resolution_changes_the_event_items_only():
    every, coarse = cost.workloads()[2:]
    costs = cost.monthly_costs(every), cost.monthly_costs(coarse)
    changed = {name for name in costs[0] if costs[0][name] != costs[1][name]}
    assert changed == {"DynamoDB event items", "DynamoDB storage and PITR"}


def test_the_mapping_model_follows_the_settings():
    ten, _, market, _ = cost.workloads()
    quiet, busy = cost.flow(ten), cost.flow(market)
    # Ten symbols: the window closes every batcher's batches; the whole market: the size does.
    batchers = Settings.shard_count * Settings.consumer_parallelization_factor
    assert quiet.invocations == pytest.approx(
        batchers / Settings.consumer_batching_window_seconds)
    assert busy.invocations == pytest.approx(market.load.records / Settings.consumer_batch_size)
    assert busy.symbols_per_invocation == market.symbols  # every symbol in every batch
    assert busy.event_writes == pytest.approx(market.load.events)  # every event, one item each


@pytest.mark.parametrize(("value", "size"), [
    ({"S": "BTCUSDT"}, 7), ({"S": "é"}, 2), ({"N": "67432.15000000"}, 5),
    ({"N": "0.00000000"}, 2), ({"N": "1795514460000"}, 6),  # trailing zeros are trimmed
    ({"NS": ["1", "22"]}, 4),
])
def test_item_sizes_follow_dynamodbs_rule(value: dict[str, Any], size: int):
    assert cost.attribute_bytes(value) == size


def test_the_defaults_keep_up_under_the_models_assumptions():
    """Each batcher's invocation is done before its next batch has gathered: with the
    parallelization factor 1, invocations of a shard run one after another."""
    for workload in cost.workloads():
        rates = cost.flow(workload)
        assert rates.invocation_seconds < rates.batch_seconds, workload.name
