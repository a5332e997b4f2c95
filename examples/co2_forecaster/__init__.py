"""A GRU forecaster of the Mauna Loa CO2 series, as a Hyperprune task (``co2_forecaster:make_task``).

Plain PyTorch: Hyperprune knows nothing of this model but its entry point. See co2-forecaster.yaml.
"""

from co2_forecaster.task import Forecaster, make_task, monthly_co2

__all__ = ["Forecaster", "make_task", "monthly_co2"]
