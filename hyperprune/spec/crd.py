"""CustomResourceDefinitions generated from the pydantic models (one source of truth). Torch-free.

``custom_resource_definition`` is generic: the operator builds the HyperpruneTrial CRD with it, and
passes its typed status model once it has one (until then status is a free-form object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import yaml
from pydantic import BaseModel

from hyperprune.contract.api import CATEGORY, GROUP, SEARCH_KIND, SEARCH_PLURAL, TRIAL_KIND, TRIAL_PLURAL, VERSION
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.status import SearchStatus
from hyperprune.spec.structural import PRESERVE, structural_schema
from hyperprune.spec.trial_resource import TrialResourceSpec, TrialResourceStatus


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str  # string, integer, number, boolean, date
    json_path: str
    description: str = ""
    priority: int = 0  # 0: shown by `kubectl get`; 1: only with -o wide

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

# The status fields these columns read are the contract with the operator's status model.
SEARCH_COLUMNS = (
    PrinterColumn("Strategy", "string", ".spec.strategy.name", "how candidates are stopped early"),
    PrinterColumn("Phase", "string", ".status.phase", "Pending, Running, Succeeded, Failed or Invalid"),
    PrinterColumn("Running", "integer", ".status.trials.running", "trials running now"),
    PrinterColumn("Stopped", "integer", ".status.trials.stopped", "trials stopped early"),
    PrinterColumn("Done", "integer", ".status.trials.completed", "trials trained to the end"),
    PrinterColumn("Best", "number", ".status.best.metric", "validation metric of the best candidate"),
    AGE,
)


def custom_resource_definition(
    *,
    kind: str,
    plural: str,
    spec_model: type[BaseModel],
    status_model: type[BaseModel] | None = None,
    description: str = "",
    short_names: Sequence[str] = (),
    categories: Sequence[str] = (CATEGORY,),
    printer_columns: Sequence[PrinterColumn] = (AGE,),
    group: str = GROUP,
    version: str = VERSION,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    """An apiextensions.k8s.io/v1 CRD with a structural schema, the status subresource and columns."""
    status = structural_schema(status_model) if status_model else {"type": "object", PRESERVE: True}
    schema = {
        "type": "object",
        "description": description or (spec_model.__doc__ or "").strip(),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(spec_model),
            "status": status,
        },
        "required": ["spec"],
    }
    if not schema["description"]:
        del schema["description"]
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": names,
            "scope": scope,
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.dump() for c in printer_columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def search_crd() -> dict[str, Any]:
    return custom_resource_definition(
        kind=SEARCH_KIND,
        plural=SEARCH_PLURAL,
        spec_model=SearchSpec,
        status_model=SearchStatus,
        description=(
            "A search for the best pruned variant of a recurrent network: candidates train briefly, their "
            "Lyapunov spectra are compared with the dense model's, far ones stop early, the best is promoted."
        ),
        short_names=("hps", "hpsearch"),
        printer_columns=SEARCH_COLUMNS,
    )


def trial_crd() -> dict[str, Any]:
    return custom_resource_definition(
        kind=TRIAL_KIND,
        plural=TRIAL_PLURAL,
        spec_model=TrialResourceSpec,
        status_model=TrialResourceStatus,
        description=(
            "One candidate (or the dense reference) of a HyperpruneSearch, created by the operator; its pods "
            "report each epoch's metric and Lyapunov spectrum into its status."
        ),
        short_names=("hpt", "hptrial"),
        printer_columns=(
            PrinterColumn("Search", "string", ".spec.search", "the search it belongs to", priority=1),
            PrinterColumn("Role", "string", ".spec.role", "dense reference or candidate"),
            PrinterColumn("Phase", "string", ".status.phase", "pending, running, paused, errored, stopped, completed, diverged or failed"),
            PrinterColumn("Epoch", "integer", ".status.epoch", "epochs completed"),
            PrinterColumn("Target", "integer", ".status.targetEpoch", "the epoch it was told to reach"),
            PrinterColumn("Distance", "number", ".status.lastDistance", "LS distance to the dense reference at its latest spectrum"),
            PrinterColumn("Metric", "number", ".status.lastMetric", "validation metric at its latest epoch"),
            PrinterColumn("Pod", "string", ".status.pod.name", "pod of the current attempt", priority=1),
            AGE,
        ),
    )


def all_crds() -> list[dict[str, Any]]:
    """Every CRD of the project, in the order `hyperprune crd` prints them."""
    return [search_crd(), trial_crd()]


def dump_yaml(documents: Sequence[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(documents), sort_keys=False, width=110, explicit_start=True)
