"""What pruning buys, made physical and measured: the compact export of a trained model (a smaller
dense network for structured pruning, packed masks for unstructured), loadable with torch alone;
the kernels that can run it; and the measurement of its sizes, FLOPs and speed. Training side (torch).

    compact = compact_export(model, masks, model_spec)    # hyperprune.deploy.compact
    write_compact(compact, folder)                        # architecture.json, weights.pt, load.py
    efficiency = measure(model, compact, device, masked=True)   # hyperprune.contract.efficiency.Efficiency
"""

from hyperprune.deploy.compact import COMPACT_DIR, Compact, compact_export, removed_units, write_compact
from hyperprune.deploy.efficiency import measure

__all__ = ["COMPACT_DIR", "Compact", "compact_export", "measure", "removed_units", "write_compact"]
