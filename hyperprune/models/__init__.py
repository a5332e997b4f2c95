"""Recurrent cores and the models built on them (see docs/architecture.md, "Models contract")."""
