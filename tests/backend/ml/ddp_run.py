"""`python -m tests.backend.ml.ddp_run CONFIG_JSON OUT_DIR`: train a prepared config on two CPU ranks
(DDP over gloo), as the training runner will from its own process. Lightning starts rank 1 by running
this same command again; each rank rebuilds the module and DataLoaders from the config. Rank 0 writes
the package (`weights.safetensors`, and the config over CONFIG_JSON) and `report.json` into OUT_DIR."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path


def main(config_path: str, out_dir: str) -> None:
    import lightning as L
    import torch

    from backend.core.db import session_scope
    from backend.ml import packaging, training

    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    config = json.loads(Path(config_path).read_text())
    with session_scope(write=False) as session:
        prepared = training.rebuild(session=session, config=config)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=config["hyperparameters"]["maxEpochs"],
                        enable_progress_bar=False, enable_model_summary=False, logger=False,
                        enable_checkpointing=False, num_sanity_val_steps=0)
    trainer.fit(prepared.module, prepared.loaders.train, prepared.loaders.validation)
    if trainer.is_global_zero:
        weights, packaged = packaging.package(prepared.module, config, metrics=trainer.callback_metrics)
        out = Path(out_dir)
        (out / "weights.safetensors").write_bytes(weights)
        Path(config_path).write_text(json.dumps(packaged))
        (out / "report.json").write_text(json.dumps({
            "worldSize": trainer.world_size, "ranksReporting": 1,
            "trainBatchesPerRank": trainer.num_training_batches,
            "metrics": packaged["metrics"]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
