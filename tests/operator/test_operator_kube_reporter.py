"""The trial pods' push reporter: what it sends, how it retries, what it needs from the environment."""

from __future__ import annotations

import math

import pytest
from kubernetes.client.exceptions import ApiException

from hyperprune.contract.pod import TrialReportEntry, report_entry, report_patch
from hyperprune.trial.kube_reporter import KubeReporter, KubeReporterError
from hyperprune.contract.report import TrialReport
from hyperprune.trial.reporters import find_reporter


def report(**over) -> TrialReport:
    values = dict(trial_id="t001", epoch=3, metric="perplexity", mode="min", val_metric=123.456789123,
                  val_loss=4.8158, train_loss=4.9, sparsity=0.6666666667, lyapunov=[0.123456789, -1.0 / 3, math.nan],
                  epoch_seconds=1.23456, wall_seconds=4.5, sparsity_per_layer={"core.weight_hh_l0": 0.7})
    values.update(over)
    spectrum = values.pop("lyapunov")
    made = TrialReport(**values)  # a report refuses a non-finite number; the runtime sets the spectrum after
    made.lyapunov = spectrum
    return made


def test_an_entry_is_what_the_crd_describes_with_rounded_floats_and_no_nan():
    entry = report_entry(report(), run=1, pod="s-t001-2")
    TrialReportEntry.model_validate(entry)  # the CRD's schema is generated from this model
    assert entry["valMetric"] == 123.4568 and entry["sparsity"] == 0.6666667
    assert entry["lyapunov"] == [0.123457, -0.333333, None]
    assert entry["run"] == 1 and entry["pod"] == "s-t001-2" and "sparsityPerLayer" not in entry
    assert report_patch(report(), 1)["status"]["reports"].keys() == {"3"}


def test_final_reports_carry_the_test_metric_and_spectra_only_when_computed():
    entry = report_entry(report(status="completed", test_metric=99.5, test_loss=4.6, lyapunov=None))
    assert entry["testMetric"] == 99.5 and "lyapunov" not in entry and entry["status"] == "completed"


class Api:
    def __init__(self, failures):
        self.failures, self.calls = list(failures), []

    def patch_namespaced_custom_object_status(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.failures:
            raise self.failures.pop(0)


def test_transient_errors_are_retried_and_the_patch_is_a_merge_patch():
    api = Api([ApiException(status=503), ConnectionResetError("reset")])
    slept = []
    KubeReporter(api, "ns", "s-t001", run=0, sleep=slept.append).report(report())
    assert len(api.calls) == 3 and slept == [0.5, 1.0]
    args, kwargs = api.calls[-1]
    assert args[:5] == ("hyperprune.io", "v1alpha1", "ns", "hyperprunetrials", "s-t001")
    assert kwargs == {"_content_type": "application/merge-patch+json"}


@pytest.mark.parametrize("status", [403, 404, 422])
def test_errors_a_retry_cannot_cure_are_raised_at_once(status):
    api = Api([ApiException(status=status)])
    with pytest.raises(ApiException):
        KubeReporter(api, "ns", "s-t001", sleep=lambda s: None).report(report())
    assert len(api.calls) == 1


def test_the_reporter_needs_its_trial_name_and_credentials(tmp_path):
    with pytest.raises(KubeReporterError, match="HYPERPRUNE_TRIAL_NAME"):
        KubeReporter.from_environment({})
    with pytest.raises(KubeReporterError, match="HYPERPRUNE_TRIAL_RUN"):
        KubeReporter.from_environment({"HYPERPRUNE_TRIAL_NAME": "x", "HYPERPRUNE_TRIAL_RUN": "one"})
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text('{"apiVersion": "v1", "kind": "Config", "current-context": "c", '
                          '"clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}], '
                          '"users": [{"name": "u", "user": {"token": "t"}}], '
                          '"contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "ctx"}}]}')
    reporter = KubeReporter.from_environment({"HYPERPRUNE_TRIAL_NAME": "s-t001", "HYPERPRUNE_TRIAL_RUN": "2",
                                              "HYPERPRUNE_NAMESPACE": "research", "HYPERPRUNE_POD_NAME": "p",
                                              "KUBECONFIG": str(kubeconfig)})
    assert (reporter.namespace, reporter.name, reporter.run, reporter.pod) == ("research", "s-t001", 2, "p")
    assert reporter.api.api_client.configuration.host == "https://127.0.0.1:1"


def test_the_reporter_is_registered_as_kube_and_a_bad_environment_is_a_setup_error(monkeypatch):
    monkeypatch.delenv("HYPERPRUNE_TRIAL_NAME", raising=False)
    factory = find_reporter("kube")
    with pytest.raises(ValueError, match="HYPERPRUNE_TRIAL_NAME"):
        factory(None)
