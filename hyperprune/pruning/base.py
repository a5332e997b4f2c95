"""The Pruner: masks on the core's weight matrices and the hooks the training loop calls.

Lifecycle (steps and epochs count from 1; ``step`` is the number of optimiser steps taken so far in
the whole run, including the current one; ``epoch`` the number of epochs finished):

    pruner = build_pruner(model, cfg, steps_per_epoch=..., total_epochs=..., seed=...)
    pruner.before_training(batches, loss_fn)        # fresh runs; a no-op after load_state_dict
    for each batch:
        loss = task_loss + (pruner.regularization() or 0)
        loss.backward()
        pruner.before_step(step, optimizer)         # dense gradients visible; then masked
        clip gradients; optimizer.step()
        pruner.after_step(step)                     # masks re-applied: pruned weights exactly 0
    pruner.on_epoch_end(epoch, optimizer)           # topology updates, one-shot prunes, rewinds

Masks are boolean tensors held here (not registered on the model, so the model's state dict stays
that of a plain model), keyed by the parameter's name in the model (``core.weight_hh_l0``,
``encoder.rnn.weight_ih_l0``). ``layers`` names the recurrent modules to prune (None: all of them).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Generic, Iterable, TypeVar, cast

import torch
from torch import Tensor, nn

from hyperprune.contract.pruning import METHODS, MethodParams, PruningConfigError, PruningSettings
from hyperprune.pruning.targets import PrunableMatrix, prunable_matrices, total_weights

LossFn = Callable[[nn.Module, Any], Tensor]
P = TypeVar("P", bound=MethodParams)


class Pruner(Generic[P]):
    """Base of every method: holds the masks and implements the shared bookkeeping. ``P`` is the
    method's params model of the catalogue; ``config`` is the method's typed settings, taken as the
    trial config holds them (parsed once, never again)."""

    method: ClassVar[str] = ""

    def __init__(
        self,
        model: nn.Module,
        config: PruningSettings,
        *,
        steps_per_epoch: int,
        total_epochs: int,
        seed: int,
        layers: list[str] | None = None,
    ) -> None:
        expected = METHODS[self.method].settings
        if not isinstance(config, expected):
            raise TypeError(f"{type(self).__name__} takes {expected.__name__} settings, got {type(config).__name__}")
        self.model = model
        self.config = config
        self.params = cast(P, config.params)
        self.target_sparsity: float = config.sparsity
        self.steps_per_epoch = steps_per_epoch
        self.total_epochs = total_epochs
        self.total_steps = steps_per_epoch * total_epochs
        self.matrices: list[PrunableMatrix] = prunable_matrices(model, layers)
        self.generator = torch.Generator().manual_seed(seed)
        self._masks = {m.name: torch.ones_like(m.param, dtype=torch.bool) for m in self.matrices}
        self._started = False
        self._check_schedule()

    # -- schedule ---------------------------------------------------------------------------------

    @property
    def final_sparsity_epoch(self) -> int:
        """Epochs after which the realised sparsity equals the target (0: from before training)."""
        return 0

    # -- hooks ------------------------------------------------------------------------------------

    def before_training(self, batches: Iterable[Any] | None = None, loss_fn: LossFn | None = None) -> None:
        """Called once before the first step of a fresh run. After ``load_state_dict`` (a resume) it
        only re-applies the masks, so calling it on every start is safe."""
        if not self._started:
            self._started = True
            self._at_start(batches, loss_fn)
        self.apply_masks()

    def before_step(self, step: int, optimizer: torch.optim.Optimizer | None = None) -> None:
        """After backward, before the optimiser step (call it before gradient clipping): gradients
        of pruned weights are zeroed so that they neither count in the clipping norm nor feed
        momentum / Adam moments. Methods reading dense gradients (RigL, gradient growth) read them
        here first; pass the optimiser so that a topology change can clear its state."""
        self._mask_gradients()

    def after_step(self, step: int) -> None:
        """After the optimiser step: re-applies the masks in place (momentum, Adam and weight decay
        may have moved pruned weights)."""
        self.apply_masks()

    def on_epoch_end(self, epoch: int, optimizer: torch.optim.Optimizer | None = None) -> None:
        """After epoch ``epoch`` (1-based) finished, before the checkpoint is written."""

    def regularization(self) -> Tensor | None:
        """A term to add to the training loss (ISS group lasso), or None."""
        return None

    # -- masks ------------------------------------------------------------------------------------

    def masks(self) -> dict[str, Tensor]:
        """Copies of the masks (True = kept), keyed by parameter name in the model."""
        return {name: mask.clone() for name, mask in self._masks.items()}

    def sparsity(self) -> tuple[float, dict[str, float]]:
        """(fraction of pruned weights over all masked matrices, the same per matrix)."""
        per = {m.name: 1.0 - self._masks[m.name].sum().item() / m.numel for m in self.matrices}
        kept = sum(self._masks[m.name].sum().item() for m in self.matrices)
        return 1.0 - kept / total_weights(self.matrices), per

    def gate_sparsity(self) -> dict[str, dict[str, float]]:
        """Sparsity of every gate block: {matrix name: {gate name: fraction pruned}}."""
        out = {}
        for m in self.matrices:
            kept = m.blocks(self._masks[m.name]).sum(dim=1)
            out[m.name] = {g: 1.0 - kept[i].item() / m.block_numel for i, g in enumerate(m.gate_names)}
        return out

    @torch.no_grad()
    def apply_masks(self) -> None:
        for m in self.matrices:
            m.param.masked_fill_(~self._mask_on_device(m), 0.0)

    def _mask_on_device(self, m: PrunableMatrix) -> Tensor:
        """The mask of ``m`` on its parameter's device (the model may have moved since)."""
        mask = self._masks[m.name]
        if mask.device != m.param.device:
            mask = self._masks[m.name] = mask.to(m.param.device)
        return mask

    # -- state ------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs: masks, the pruner's RNG, counters, method state."""
        return {
            "method": self.method,
            "masks": self.masks(),
            "generator": self.generator.get_state(),
            "started": self._started,
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("method") != self.method:
            raise ValueError(f"pruner state is for method {state.get('method')!r}, this pruner is {self.method!r}")
        missing = set(self._masks) - set(state["masks"])
        if missing:
            raise ValueError(f"pruner state lacks masks for {sorted(missing)}")
        for name, mask in self._masks.items():
            mask.copy_(state["masks"][name])
        self.generator.set_state(state["generator"])
        self._started = bool(state["started"])
        self._load_extra_state(state)
        self.apply_masks()

    # -- for subclasses ---------------------------------------------------------------------------

    def _check_schedule(self) -> None:
        """Raise PruningConfigError (naming the field) when the method cannot run in this schedule:
        the catalogue's rule (``MethodParams.schedule_issues``), which the spec and the local engine
        check before any trial starts."""
        issues = self.params.schedule_issues(self.target_sparsity, self.total_epochs, self.steps_per_epoch)
        if issues:
            path, message = issues[0]
            raise PruningConfigError(f"pruning.{path}", message)

    def _at_start(self, batches: Iterable[Any] | None, loss_fn: LossFn | None) -> None:
        """Method-specific work before training (pruning at initialisation, snapshots)."""

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def _set_masks(
        self,
        masks: dict[str, Tensor],
        optimizer: torch.optim.Optimizer | None = None,
        restarted: dict[str, Tensor] | None = None,
    ) -> None:
        """Install new masks and zero the weights they prune. Every position whose mask changed, and
        every position in ``restarted`` (dropped and regrown in one update), is zeroed in the
        weights and in the optimiser state, so a regrown weight starts from zero without stale
        momentum or Adam moments."""
        with torch.no_grad():
            for m in self.matrices:
                new = masks[m.name].to(device=m.param.device, dtype=torch.bool)
                reset = new != self._mask_on_device(m)
                if restarted is not None:
                    reset |= restarted[m.name].to(m.param.device)
                m.param.masked_fill_(reset, 0.0)
                if optimizer is not None and reset.any():
                    _clear_optimizer_state(optimizer, m.param, reset)
                self._masks[m.name] = new
        self.apply_masks()

    @torch.no_grad()
    def _mask_gradients(self) -> None:
        for m in self.matrices:
            if m.param.grad is not None:
                m.param.grad.masked_fill_(~self._mask_on_device(m), 0.0)


def _clear_optimizer_state(optimizer: torch.optim.Optimizer, param: nn.Parameter, positions: Tensor) -> None:
    """Zero the per-weight optimiser state (momentum buffer, Adam moments) at ``positions``."""
    state = optimizer.state.get(param)
    if not state:
        return
    for value in state.values():
        if torch.is_tensor(value) and value.shape == param.shape:
            value.masked_fill_(positions, 0)
