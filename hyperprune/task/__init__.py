"""Your own recurrent model and data as a Hyperprune task (``spec.task``; docs/tasks.md).

    from hyperprune.task import Metric, Task, TaskContext

    def make_task(ctx: TaskContext) -> Task:
        model = MyForecaster(hidden=ctx.params.get("hidden", 32))
        return Task(model=model, train=train_loader, valid=valid_loader, test=test_loader,
                    loss=torch.nn.functional.mse_loss,
                    metric=Metric("mae", "min", lambda out, y: (out - y).abs()))

The trial imports the entry point (``package.module:function``), calls it with its seed, device and
``spec.task.params``, and trains what it returns. Needs torch; the control side only reads the
entry point's name (``hyperprune.contract.trial.TaskConfig``).
"""

from hyperprune.task.entry import TaskError, check_task, load_task, resolve_entry_point
from hyperprune.task.protocol import Batch, Metric, Task, TaskContext, split_batch, to_device

__all__ = [
    "Batch",
    "Metric",
    "Task",
    "TaskContext",
    "TaskError",
    "check_task",
    "load_task",
    "resolve_entry_point",
    "split_batch",
    "to_device",
]
