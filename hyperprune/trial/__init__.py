"""The trial runtime: what one candidate (a trial pod, or a local process) does. Needs torch.

``runtime.run_trial`` is the training loop, ``command`` the ``hyperprune trial`` command around it;
the files it writes and the config it reads are the contract's (``hyperprune.contract``), so the
engines never import this package.
"""
