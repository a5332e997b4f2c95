"""The contract: what the parts of Hyperprune agree on, at the ground floor. Torch-free.

Everything above imports it; it imports nothing of the project (pydantic and the standard library
only), so the spec, the policy, both engines, the operator image and the trial runtime share one
vocabulary without depending on each other:

- ``document``     the base of every typed document (strict, camelCase on the wire), issue paths
- ``api``          the Kubernetes group, version, kinds and plurals
- ``trial``        ``TrialConfig`` and its parts, and the rules that span them
- ``pruning``      the pruning catalogue: method names and their typed settings
- ``report``       ``TrialReport``, one line per finished epoch
- ``files``        a trial's work-dir file names and exit codes
- ``pod``          a trial pod's environment and its reports in the trial's status
- ``data_layout``  which files make up each split of a corpus directory
- ``text``         a corpus read as tokens, its splits, and what it must hold for a recipe
- ``units``        which sparsities ISS reaches with whole hidden units (on shapes, no weights)
- ``efficiency``   what a model costs to keep and run (sizes, FLOPs, kernel timings) and saves against dense
- ``promotion``    how a promoted model folder is written, never over what Hyperprune did not write
- ``resources``    how many CPUs a process may use
"""
