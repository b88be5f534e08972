"""The README's tables and lists against the code that defines them: a field, a setting, an
option or a metric added, renamed or removed in the code fails here until the README follows.

(The deployment settings table is checked by tests/test_cdk_app.py, the cost table by
tests/test_cost.py.)
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from glue_jobs.curation import compaction
from glue_jobs.curation import settings as hourly_settings
from ingest.environment import SETTINGS as INGEST_SETTINGS
from ingest.metric_names import MetricName as IngestMetric
from lambdas.api import settings as api_settings
from lambdas.api.observability import MetricName as ApiMetric
from lambdas.consumer import settings as consumer_settings
from lambdas.consumer.metric_names import MetricName as ConsumerMetric
from miniticker import FIELDS, FieldKind
from miniticker.metrics import NAMESPACE

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
KINDS = {"text": FieldKind.TEXT, "epoch ms": FieldKind.EPOCH_MILLIS,
         "decimal": FieldKind.DECIMAL}


def section(heading: str) -> str:
    """The README's text under ``heading`` (a whole heading line) up to the next heading of the
    same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = README.index("\n" + heading + "\n") + len(heading) + 2
    fenced = False
    offset = start
    for line in README[start:].splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return README[start:offset]
        offset += len(line)
    return README[start:]


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the table whose header line starts with ``header``."""
    start = text.index("\n" + header) + 1
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_field_table_is_the_contract():
    rows = table(section("## The MiniTicker record"), "| field | kind |")
    documented = []
    for row in rows:
        fields, kind, binance = names(row[0]), row[1], names(row[2])
        for position, name in enumerate(fields):
            documented.append(name)
            spec = next(f for f in FIELDS if f.name == name)
            assert KINDS[kind] is spec.kind, name
            if spec.binance_key is not None:
                assert binance[position if len(binance) > 1 else 0] == spec.binance_key, name
    assert documented == [f.name for f in FIELDS]


def test_the_ingester_settings_table_is_its_environment():
    rows = table(section("## The ingester (`python -m ingest`)"), "| variable | default |")
    documented = {names(row[0])[0]: row[1] for row in rows}
    assert list(documented) == list(INGEST_SETTINGS)
    for name, default in documented.items():
        expected = INGEST_SETTINGS[name].default
        assert default == ("" if expected is None else f"`{expected}`"), name


def test_the_consumer_settings_table_is_what_it_reads():
    rows = table(section("## The consumer Lambda (`lambdas/consumer`)"), "| variable | default |")
    documented = {names(row[0])[0]: row[1] for row in rows}
    variables = {value for name, value in vars(consumer_settings).items()
                 if name.isupper() and isinstance(value, str) and value == name}
    assert set(documented) == variables
    loaded = consumer_settings.load({consumer_settings.TABLE_NAME: "t"})
    defaults = {consumer_settings.RETENTION_DAYS: str(loaded.retention_days),
                consumer_settings.PRICE_METRICS: str(loaded.price_metrics).lower(),
                consumer_settings.HOT_TABLE_RESOLUTION_SECONDS: str(loaded.resolution_seconds)}
    for name, default in defaults.items():
        assert documented[name] == f"`{default}`", name


def test_the_read_api_settings_are_named():
    text = section("## The read API (`lambdas/api`)")
    found = re.search(r"Settings: (.*?)\.\s", text, re.S)
    assert found, "the read API section names no settings"
    settings = set(found.group(1).split(", "))
    variables = {value for name, value in vars(api_settings).items()
                 if name.isupper() and isinstance(value, str) and value == name}
    assert {s.split()[0].strip("`") for s in settings} == variables


def metrics_listed(text: str) -> set[str]:
    """The backticked CamelCase words of a metrics paragraph."""
    return {word for word in re.findall(r"`([A-Z][A-Za-z]+)`", text)}


@pytest.mark.parametrize(("heading", "start", "metric_names", "others"), [
    ("## The ingester (`python -m ingest`)", "Metrics (namespace", IngestMetric,
     {"ProvisionedThroughputExceededException"}),
    ("## The consumer Lambda (`lambdas/consumer`)", "Metrics, namespace", ConsumerMetric, set()),
    ("## The read API (`lambdas/api`)", "Metrics, dimension", ApiMetric, set()),
])
def test_each_metric_list_is_the_metric_names(heading: str, start: str, metric_names: Any,
                                              others: set[str]):
    text = section(heading)
    paragraph = text[text.index(start):].split("\n\n")[0]
    listed = metrics_listed(paragraph) - others - {NAMESPACE}
    assert listed == {value for name, value in vars(metric_names).items() if name.isupper()}


def options(parse: Callable[[Sequence[str]], Any]) -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        parse(["--help"])
    return set(re.findall(r"(--[a-z][a-z-]+)", out.getvalue())) - {"--help"}


@pytest.mark.parametrize(("heading", "parse", "in_the_commands"), [
    ("### The hourly job (`glue_jobs/raw_to_parquet.py`)", hourly_settings.parse_settings,
     {"--bucket", "--hour", "--hours", "--start", "--end"}),
    ("### The daily compaction (`glue_jobs/compact_day.py`)", compaction.parse_settings,
     {"--bucket"}),
])
def test_each_glue_job_options_table_is_its_command_line(
        heading: str, parse: Callable[[Sequence[str]], Any], in_the_commands: set[str]):
    text = section(heading)
    documented = {name for row in table(text, "| option | default |") for name in names(row[0])}
    assert documented | in_the_commands == options(parse)
    for option in in_the_commands:
        assert option in text.split("|")[0], f"{option} is in neither the table nor the commands"
