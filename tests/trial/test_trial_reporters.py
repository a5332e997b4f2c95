import pytest

from hyperprune.contract.report import TrialReport
from hyperprune.trial.reporters import (
    FileReporter,
    Reporter,
    ReporterContext,
    create_reporter,
    read_reports,
    register_reporter,
    reporter_names,
)
from trial_support import ListReporter, tiny_config


def a_report(epoch: int) -> TrialReport:
    return TrialReport(trial_id="t", epoch=epoch, metric="perplexity", mode="min", val_metric=12.5)


def test_the_file_reporter_appends_one_parseable_line_per_report(tmp_path):
    reporter = FileReporter(tmp_path / "reports.jsonl")
    reporter.report(a_report(1))
    reporter.report(a_report(2))
    # Durable before close: another process reading now sees both lines.
    assert [r.epoch for r in read_reports(tmp_path / "reports.jsonl")] == [1, 2]
    reporter.close()
    assert '"valMetric": 12.5' in (tmp_path / "reports.jsonl").read_text()


def test_a_reporter_named_module_colon_factory_is_loaded(tmp_path):
    context = ReporterContext(tiny_config(), tmp_path)
    reporter = create_reporter("trial_support:ListReporter", context)
    assert isinstance(reporter, ListReporter) and isinstance(reporter, Reporter)
    assert reporter.context.workdir == tmp_path


def test_unknown_or_unusable_reporters_are_value_errors(tmp_path):
    context = ReporterContext(tiny_config(), tmp_path)
    assert "file" in reporter_names()
    with pytest.raises(ValueError, match="unknown reporter 'nope'; known: .*file"):
        create_reporter("nope", context)
    with pytest.raises(ValueError, match="cannot be loaded"):
        create_reporter("no_such_module:Factory", context)
    register_reporter("useless-test", lambda context: object())
    with pytest.raises(ValueError, match="made a object, which lacks report"):
        create_reporter("useless-test", context)
