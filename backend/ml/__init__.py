"""Models the platform trains: model families, their Lightning modules, DataLoaders over dataset
versions and their stored splits, and packages of safetensors weights plus a JSON config.

A library, not a domain: no routes, no tables, no jobs. Training jobs, experiments and Optuna studies
call it; serving and benchmarks load its packages. Importing `backend.ml` costs nothing; the modules
below import torch and Lightning.

Families (`backend.ml.families`)
    `get_family(name)` (TRAIN_003 for an unknown name), `family_names()`, `register_family`.
    Built in: `tabular_mlp` (classification, regression; tabular), `text_classifier` (classification;
    text: hashed n-gram bag of embeddings, or `mode=fine_tune` on all-MiniLM-L6-v2), `image_cnn`
    (classification; image archives such as the demo "Handwritten Digits").
    `family.describe()` gives the tasks, dataset types and a JSON Schema of the hyperparameters (for a
    form or to check a search space); `family.validate(raw)` the checked hyperparameters.

Adding a family: one module under `backend/ml/families/` (named in `BUILTIN` there, or imported by
whoever needs it) with
    class MyHyperparameters(BaseHyperparameters):     # pydantic, snake_case fields, camelCase on the wire,
        width: int = Field(default=64, ge=1, le=4096)   # ranges: out of range -> TRAIN_003 naming the field
    class MyModule(SupervisedModule):                 # backend.ml.modules: loss, optimizer, metric logging
        def __init__(self, config): super().__init__(config); ...layers from config...
        def forward(self, inputs): return logits        # (N, classes), or (N, 1) for regression
    @register_family
    class MyFamily(Family):                           # backend.ml.base
        name, title, description = "my_family", "...", "..."
        tasks = ("classification",); dataset_types = ("tabular",); hyperparameters = MyHyperparameters
        def select_inputs(self, frame, *, label, requested, hp) -> list[str]   # the columns it reads
        def fit(self, train, *, inputs, hp, task) -> (inputSchema, preprocessing)  # training split only
        def build_module(self, config, *, pretrained=True) -> MyModule
        def encode(self, config, frame) -> Encoded     # .take(indices) -> the module's inputs
Module classes live at module level so they are importable by path (DDP's re-run of `python -m ...`
rebuilds them from the config; nothing needs pickling).

What a training job calls (`backend.ml.training`)
    check_trainable(*, session, dataset_id, family, hyperparameters=None, version=None, label_column=None,
                    input_columns=None, task=None, actor=None) -> TrainingPlan
        Before queueing: TRAIN_003 (unknown family, hyperparameter out of range, family or task that does
        not fit the data, each field named in `details.fields`), DATA_004 (no stored split, no label
        column, too few rows or classes), DATA_001 (no such dataset, or `actor` may not read it). Reads
        only the label and split columns. `plan.as_dict()` is JSON; `plan.monitor` is ("val_loss", "min").
    prepare(same arguments) -> Prepared(family, config, module, loaders, plan)
        Learns the preprocessing from the training split, builds the seeded module and the DataLoaders
        (`loaders.train`, `.validation`, `.test`; None when that part of the split is empty).
    rebuild(*, session, config) -> Prepared; loaders(*, session, config) -> Loaders
        The same module and loaders from a saved config, no refitting (a resumed job before loading its
        checkpoint; each DDP rank). TRAIN_001 when the version was split again meanwhile.
    seed_everything(config) -> int: seeds Python, NumPy and torch from the `seed` hyperparameter (call it
        in the training process before fitting, so dropout and shuffling repeat as well)
    evaluate(module, loader) -> {"loss", "accuracy" | "rmse", "count"}
    hyperparameters.trainer_options(raw) -> TrainerOptions (accelerator, devices 1-16, precision,
        patience, minDelta, gradientClipVal, accumulateGradBatches); TRAIN_003 when out of range.

    prepared = prepare(session=s, dataset_id=d, family="tabular_mlp", hyperparameters={"maxEpochs": 5})
    seed_everything(prepared.config)
    trainer = L.Trainer(max_epochs=prepared.config["hyperparameters"]["maxEpochs"], accelerator="auto")
    trainer.fit(prepared.module, prepared.loaders.train, prepared.loaders.validation)
    weights, config = package(prepared.module, prepared.config, metrics=trainer.callback_metrics)

Metrics the modules log (`self.log`; `backend.ml.modules`): per training step `loss`, `accuracy` or
`rmse`, `learning_rate`; per epoch `train_loss`, `train_accuracy`|`train_rmse`, `val_loss`,
`val_accuracy`|`val_rmse`, `test_loss`, `test_accuracy`|`test_rmse` (RMSE in the label's units).

Packages (`backend.ml.packaging`): no pickle anywhere
    package(module, config, *, metrics=None) -> (safetensors bytes, config dict)
    load_package(weights: bytes | path, config: dict | JSON text) -> LoadedModel (module in eval mode)
    predict(loaded, rows: list of {input column: value}) -> [{"label", "probabilities"}] | [{"value"}]
The config (format "aisystem.ml/1", under the registry's 64 KiB config limit) holds family, task,
hyperparameters, dataset (id, version, split sha256, counts), label, labelNames, inputSchema,
preprocessing (training-split statistics, categories, tokenizer, image size and normalisation, the
regression target's mean/std, the fine-tune base model's hash), metrics, weights (sha256, counts) and
framework versions. Weights that are not safetensors, do not match the hash, or do not fit the module
-> TRAIN_004; a row missing an input or with a wrong-typed value -> INFER_002.
"""
