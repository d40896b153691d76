"""Saving and loading a torch head: safetensors (module and loss state, input mean/std) plus JSON, never pickle."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from scaa.heads.io import load_arrays, save_arrays


class TorchPersistence:
    """``save``/``load`` and ``n_parameters`` of :class:`scaa.heads.torch_base.TorchHead` (a mixin)."""

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"module.{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        arrays.update({f"loss.{k}": v.detach().cpu().numpy() for k, v in self.loss_.state_dict().items()})
        if self.mean_ is not None:
            arrays["input.mean"], arrays["input.std"] = self.mean_, self.std_
        return arrays

    def save(self, run_dir) -> None:
        check_is_fitted(self, "module_")
        meta = {"head": self.registry_name, "params": self.params(), "in_dim": self.in_dim_,
                "loss": self.loss_spec_, "classes": self.classes_.tolist(), "class_counts": self.class_counts_,
                "best_epoch": self.best_epoch_, "best_dev_eer": self.best_dev_eer_, "epochs_run": self.epochs_run_,
                "train_precision": self.train_precision_, "n_parameters": self.n_parameters()}
        save_arrays(run_dir, self._arrays(), meta)

    def _restore(self, arrays: dict, meta: dict) -> None:
        self._setup(meta["in_dim"], meta["loss"], meta["class_counts"])
        def pick(prefix):
            return {k[len(prefix):]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith(prefix)}

        self.module_.load_state_dict(pick("module."))
        self.loss_.load_state_dict(pick("loss."))
        self.mean_ = self.std_ = None
        if "input.mean" in arrays:
            self.mean_, self.std_ = arrays["input.mean"], arrays["input.std"]
        self.classes_ = np.asarray(meta.get("classes", [0, 1]))
        self.best_epoch_, self.best_dev_eer_ = meta.get("best_epoch"), meta.get("best_dev_eer")
        self.epochs_run_ = meta.get("epochs_run")
        self.train_precision_ = meta.get("train_precision")
        self.module_.eval()
        self.loss_.eval()

    @classmethod
    def load(cls, run_dir, **spec) -> "TorchHead":
        arrays, meta = load_arrays(run_dir, head=cls.registry_name)
        head = cls(**{**spec, **meta["params"], "loss": meta["loss"]})  # the saved architecture wins
        head._restore(arrays, meta)
        return head

    def n_parameters(self) -> dict:
        if not hasattr(self, "module_"):
            return {"total": 0, "trainable": 0}
        ps = list(self.module_.parameters()) + list(self.loss_.parameters())
        return {"total": int(sum(p.numel() for p in ps)),
                "trainable": int(sum(p.numel() for p in ps if p.requires_grad))}
