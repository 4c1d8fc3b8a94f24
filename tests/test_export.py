"""coursekit.export: the PyTorch code it writes is executed (when PyTorch is installed) and must
build, train, augment and stop exactly like coursekit; the Keras code is parsed (Keras is not
installed here) and checked for the mapped conventions."""
import ast
import re

import numpy as np
import pytest

from coursekit import augment, datasets
from coursekit.batchnorm import BatchNorm2d
from coursekit.early_stopping import EarlyStopping
from coursekit.export import CONFIG_KEYS, check_config, keras_code, pytorch_code
from coursekit.losses import softmax_cross_entropy
from coursekit.models import digits_cnn
from coursekit.normalization import GroupNorm
from coursekit.optim import SGD
from coursekit.regularization import L2
from coursekit.training import fit

BUDGET = {"lr": 0.05, "momentum": 0.9, "batch_size": 32, "epochs": 60}
CONFIGS = {
    "none": {},
    "L2": {"lambd": 0.3},
    "dropout": {"drop_prob": 0.5},
    "spatial dropout": {"spatial_drop_prob": 0.2},
    "early stopping": {"patience": 10},
    "batch norm": {"batch_norm": True},
    "group norm": {"group_norm": 4},
    "augmentation": {"augment": {"degrees": 10, "shift": 0.5, "scale": 0.1}},
    "all": {"lambd": 0.3, "drop_prob": 0.5, "spatial_drop_prob": 0.2, "batch_norm": True, "patience": 10,
            "augment": {"degrees": 10, "shift": 0.5, "scale": 0.1, "flip": 0.25, "noise": 0.05}},
}
ARCHITECTURE = ("batch_norm", "group_norm", "drop_prob", "spatial_drop_prob")


def architecture(config):
    return {key: config[key] for key in ARCHITECTURE if key in config}


# ---------------------------------------------------------------- configurations and budgets

@pytest.mark.parametrize("config,exc,pattern", [
    ([("drop_prob", 0.5)], TypeError, "config must be a dict"),
    ({"dropout": 0.5}, ValueError, r"unknown key\(s\) \['dropout'\]; the known keys are"),
    ({"drop_prob": 1.0}, ValueError, r"config\['drop_prob'\] must be in \[0.0, 1.0\), got 1.0"),
    ({"spatial_drop_prob": -0.1}, ValueError, r"config\['spatial_drop_prob'\] must be in"),
    ({"lambd": -1}, ValueError, r"config\['lambd'\] must be >= 0.0, got -1"),
    ({"lambd": float("nan")}, ValueError, r"config\['lambd'\] must be a finite number"),
    ({"patience": 0}, ValueError, r"config\['patience'\] must be an integer >= 1, got 0"),
    ({"patience": 2.5}, TypeError, r"config\['patience'\] must be an integer"),
    ({"batch_norm": 1}, TypeError, r"config\['batch_norm'\] must be True or False"),
    ({"group_norm": 2.0}, TypeError, r"config\['group_norm'\] must be an integer"),
    ({"group_norm": 4, "batch_norm": True}, ValueError, "choose one normalization"),
    ({"augment": [10, 0.5]}, TypeError, r"config\['augment'\] must be a dict"),
    ({"augment": {"rotate": 10}}, ValueError, r"unknown key\(s\) \['rotate'\]; the known keys are \['degrees'"),
    ({"augment": {"flip": 1.5}}, ValueError, r"config\['augment'\]\['flip'\] must be in \[0.0, 1.0\].*probability"),
    ({"augment": {"degrees": -5}}, ValueError, r"\['degrees'\] must be in \[0.0, 180.0\], got -5"),
])
def test_bad_configs_are_rejected_with_a_clear_message(config, exc, pattern):
    with pytest.raises(exc, match=pattern):
        check_config(config)
    for generate in (pytorch_code, keras_code):
        with pytest.raises(exc, match=pattern):
            generate(config, **BUDGET)


def test_check_config_fills_in_the_defaults():
    assert check_config({}) == {"batch_norm": False, "group_norm": 0, "drop_prob": 0.0, "spatial_drop_prob": 0.0,
                                "lambd": 0.0, "patience": None, "augment": None}
    assert check_config({"patience": 3, "lambd": 1})["lambd"] == 1.0
    assert set(check_config({})) == set(CONFIG_KEYS)
    assert check_config({"augment": {"shift": 1}})["augment"] == {"degrees": 0.0, "shift": 1.0, "scale": 0.0,
                                                                  "flip": 0.0, "noise": 0.0}
    assert check_config({"augment": {"degrees": 0}})["augment"] is None  # nothing switched on


@pytest.mark.parametrize("budget,pattern", [
    ({"lr": 0}, "lr must be > 0.0"),
    ({"momentum": 1.0}, r"momentum must be in \[0.0, 1.0\)"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"epochs": 2.0}, "epochs must be an integer"),
    ({"channels": 16}, r"channels must be a pair"),
    ({"channels": (16, 30)}, r"group_norm'\]=4 groups must divide both channel counts \(16, 30\)"),
])
def test_bad_budgets_are_rejected(budget, pattern):
    for generate in (pytorch_code, keras_code):
        with pytest.raises((TypeError, ValueError), match=pattern):
            generate({"group_norm": 4}, **{**BUDGET, **budget})


# ---------------------------------------------------------------- Keras: parsed, conventions mapped

@pytest.mark.parametrize("name", CONFIGS)
def test_keras_code_is_valid_python_with_the_mapped_conventions(name):
    """Keras is not a test dependency: the code is parsed, and its settings read back."""
    config = CONFIGS[name]
    code = keras_code(config, **BUDGET)
    ast.parse(code)
    assert f"batch_size={BUDGET['batch_size']}, epochs={BUDGET['epochs']}" in code
    assert f"SGD(learning_rate={BUDGET['lr']}, momentum={BUDGET['momentum']})" in code
    assert code.count("layers.BatchNormalization(momentum=0.9, epsilon=1e-5)") == (2 if "batch_norm" in config else 0)
    assert code.count("layers.GroupNormalization(groups=4, epsilon=1e-5)") == (2 if "group_norm" in config else 0)
    spec = config.get("augment", {})
    assert ("layers.RandomRotation(10.0 / 360, fill_mode=\"constant\")" in code) == ("degrees" in spec)
    assert ("layers.RandomTranslation(0.5 / 8, 0.5 / 8, fill_mode=\"constant\")" in code) == ("shift" in spec)
    assert ("layers.RandomZoom((-0.1, 0.1), fill_mode=\"constant\")" in code) == ("scale" in spec)
    assert ('layers.RandomFlip("horizontal"),  # flips with probability 0.5 (coursekit: 0.25)' in code) == \
        ("flip" in spec)
    assert ("layers.GaussianNoise(0.05)," in code) == ("noise" in spec)
    if spec:  # the random layers come first, at the input
        assert code.index("keras.Input") < code.index("layers.Random") < code.index("layers.Conv2D")
    assert code.count(f"layers.Dropout(rate={config.get('drop_prob')})") == (2 if "drop_prob" in config else 0)
    assert code.count(f"layers.SpatialDropout2D(rate={config.get('spatial_drop_prob')})") == \
        (2 if "spatial_drop_prob" in config else 0)
    if "lambd" in config:  # Keras's l2(c) adds c * sum(w**2): c = lambd / (2m) gives the gradient (lambd / m) w
        match = re.search(r"regularizers\.l2\(([\d.]+) / \(2 \* (\d+)\)\)", code)
        assert float(match.group(1)) == config["lambd"] and int(match.group(2)) == BUDGET["batch_size"]
        assert code.count("kernel_regularizer=penalty") == 4  # two convolutions, two dense layers
    else:
        assert "regularizers.l2" not in code
    if "patience" in config:
        assert f'EarlyStopping(monitor="val_loss", patience={config["patience"]}, restore_best_weights=True)' in code
    else:
        assert "EarlyStopping" not in code


# ---------------------------------------------------------------- PyTorch: executed

@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits(n_train=64, n_val=48)


def tensors(torch, digits):
    return {"X_train": torch.from_numpy(digits.X_train), "y_train": torch.from_numpy(digits.y_train),
            "X_val": torch.from_numpy(digits.X_val), "y_val": torch.from_numpy(digits.y_val)}


def split_at_optimizer(code):
    """(model-building part, training part): the test loads coursekit's weights in between."""
    lines = code.splitlines()
    cut = next(i for i, line in enumerate(lines) if re.match(r"(# L2 with|optimizer = )", line))
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


def copy_coursekit_into_torch(torch, model, torch_model):
    """Load a coursekit model's parameters and batch-norm statistics into the PyTorch model, layer by layer."""
    pairs = [(layer, module) for layer, module in zip(model.layers, torch_model)]
    with torch.no_grad():
        for layer, module in pairs:
            if type(module).__name__ == "Linear":  # Dense keeps W as (in, out), Linear as (out, in)
                module.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
                module.bias.copy_(torch.from_numpy(layer.params["b"]))
            elif type(module).__name__ == "Conv2d":
                module.weight.copy_(torch.from_numpy(layer.params["W"]))
                module.bias.copy_(torch.from_numpy(layer.params["b"]))
            elif type(module).__name__ == "BatchNorm2d":
                module.weight.copy_(torch.from_numpy(layer.params["gamma"]))
                module.bias.copy_(torch.from_numpy(layer.params["beta"]))
                module.running_mean.copy_(torch.from_numpy(layer.running_mean))
                module.running_var.copy_(torch.from_numpy(layer.running_var))
            elif type(module).__name__ == "GroupNorm":
                module.weight.copy_(torch.from_numpy(layer.params["gamma"]))
                module.bias.copy_(torch.from_numpy(layer.params["beta"]))


LAYER_NAMES = {"Conv2D": "Conv2d", "BatchNorm2d": "BatchNorm2d", "GroupNorm": "GroupNorm", "ReLU": "ReLU",
               "SpatialDropout2D": "Dropout2d", "MaxPool2D": "MaxPool2d", "Flatten": "Flatten", "Dropout": "Dropout",
               "Dense": "Linear"}


@pytest.mark.parametrize("name", CONFIGS)
def test_pytorch_code_runs_and_uses_the_same_conventions(torch, digits, name):
    config = CONFIGS[name]
    namespace = tensors(torch, digits)
    exec(pytorch_code(config, **{**BUDGET, "epochs": 3, "batch_size": 16}), namespace)
    model, optimizer = namespace["model"], namespace["optimizer"]
    assert not model.training, "the script should leave the model in evaluation mode"
    with torch.no_grad():
        logits = model(namespace["X_val"])
        loss = torch.nn.functional.cross_entropy(logits, namespace["y_val"]).item()
    assert logits.shape == (len(digits.X_val), 10) and np.isfinite(loss)

    reference = digits_cnn(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(1), **architecture(config))
    assert [LAYER_NAMES[type(layer).__name__] for layer in reference.layers] == \
        [type(module).__name__ for module in model], "the PyTorch network must have coursekit's layers, in order"
    for layer, module in zip(reference.layers, model):
        if isinstance(layer, BatchNorm2d):
            assert (module.momentum, module.eps) == (layer.momentum, layer.eps) == (0.1, 1e-5)
        elif isinstance(layer, GroupNorm):
            assert (module.num_groups, module.num_channels, module.eps) == \
                (layer.num_groups, layer.num_channels, layer.eps) == (4, layer.num_channels, 1e-5)
        elif type(module).__name__ in ("Dropout", "Dropout2d"):
            assert module.p == layer.drop_prob
    assert len(optimizer.param_groups) == (2 if "lambd" in config else 1)
    decayed = [p for group in optimizer.param_groups if group["weight_decay"] > 0 for p in group["params"]]
    if "lambd" in config:
        assert {group["weight_decay"] for group in optimizer.param_groups} == {0.0, config["lambd"] / 16}
        n_weights = sum(p.is_weight for p in reference.parameters())
        assert len(decayed) == n_weights == 4 and all(p.ndim > 1 for p in decayed), \
            "weight decay on the four weight arrays only"
    else:
        assert not decayed
    assert all(g["lr"] == BUDGET["lr"] and g["momentum"] == BUDGET["momentum"] for g in optimizer.param_groups)


@pytest.mark.parametrize("name", CONFIGS)
def test_pytorch_network_computes_the_same_function_as_coursekit(torch, digits, name):
    config = CONFIGS[name]
    build, _ = split_at_optimizer(pytorch_code(config, **BUDGET))
    namespace = {}
    exec(build, namespace)
    torch_model = namespace["model"]
    model = digits_cnn(rng=np.random.default_rng(3), noise_rng=np.random.default_rng(4), **architecture(config))
    model.forward(digits.X_train, training=True)  # moves batch norm's running statistics away from 0 and 1
    for layer in model.layers:  # gamma and beta away from 1 and 0, so that a swapped pair would show
        if isinstance(layer, GroupNorm):
            layer.params["gamma"][:] = np.random.default_rng(5).uniform(0.5, 1.5, layer.num_channels)
            layer.params["beta"][:] = np.random.default_rng(6).uniform(-0.5, 0.5, layer.num_channels)
    copy_coursekit_into_torch(torch, model, torch_model)
    torch_model.eval()
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(digits.X_val)).numpy()
    np.testing.assert_allclose(model.predict(digits.X_val), expected, rtol=1e-4, atol=1e-5)


def test_pytorch_initialization_is_coursekits_he_normal(torch):
    """Weights drawn with std sqrt(2 / fan_in) (coursekit's Dense and Conv2D), biases zero."""
    torch.manual_seed(1)
    build, _ = split_at_optimizer(pytorch_code({}, **BUDGET))
    namespace = {}
    exec(build, namespace)
    reference = digits_cnn(rng=np.random.default_rng(1))
    for layer, module in zip(reference.layers, namespace["model"]):
        if type(module).__name__ in ("Conv2d", "Linear"):
            weight = module.weight.detach().numpy()
            fan_in = weight[0].size
            assert np.all(module.bias.detach().numpy() == 0)
            # the sample std of >= 144 normal draws is within 20% of the true one (~4 standard errors)
            assert weight.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.2)
            assert layer.params["W"].std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.2)


@pytest.mark.parametrize("name", ["none", "L2", "batch norm", "group norm", "early stopping"])
def test_pytorch_training_takes_the_same_steps_as_coursekit(torch, digits, name):
    """Two full-batch SGD steps (momentum and, for L2, weight decay lambd/m with m the batch size):
    the same weights as coursekit's fit with L2(lambd). (Dropout and augmentation draw other random numbers:
    left out; the augmentation's geometry is tested below.)"""
    config = {**CONFIGS[name], "lambd": 0.3} if name == "batch norm" else CONFIGS[name]
    n = len(digits.X_train)
    lr, momentum, epochs = 0.1, 0.9, 2
    build, train = split_at_optimizer(pytorch_code(config, lr=lr, momentum=momentum, batch_size=n, epochs=epochs))
    namespace = tensors(torch, digits)
    exec(build, namespace)
    model = digits_cnn(rng=np.random.default_rng(5), **architecture(config))
    copy_coursekit_into_torch(torch, model, namespace["model"])
    exec(train, namespace)

    callbacks, validation = [], None
    if "patience" in config:
        callbacks = [EarlyStopping("val_loss", patience=config["patience"], restore_best_weights=True)]
        validation = (digits.X_val, digits.y_val)
    fit(model, softmax_cross_entropy, SGD(model.parameters(), lr=lr, momentum=momentum), digits.X_train,
        digits.y_train, epochs=epochs, batch_size=n, rng=np.random.default_rng(6), progress=False,
        validation_data=validation, callbacks=callbacks,
        regularizer=L2(config["lambd"]) if "lambd" in config else None)
    torch_state = {k: v.numpy() for k, v in namespace["model"].state_dict().items()}
    for i, (layer, module) in enumerate(zip(model.layers, namespace["model"])):
        if type(module).__name__ == "Linear":
            np.testing.assert_allclose(layer.params["W"].T, torch_state[f"{i}.weight"], rtol=1e-4, atol=1e-6)
        elif type(module).__name__ == "Conv2d":
            np.testing.assert_allclose(layer.params["W"], torch_state[f"{i}.weight"], rtol=1e-4, atol=1e-6)
        elif type(module).__name__ == "BatchNorm2d":
            np.testing.assert_allclose(layer.params["gamma"], torch_state[f"{i}.weight"], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(layer.running_var, torch_state[f"{i}.running_var"], rtol=1e-4, atol=1e-6)
        elif type(module).__name__ == "GroupNorm":
            np.testing.assert_allclose(layer.params["beta"], torch_state[f"{i}.bias"], rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        expected = namespace["model"](namespace["X_val"]).numpy()
    np.testing.assert_allclose(model.predict(digits.X_val), expected, rtol=1e-3, atol=1e-4)


def test_pytorch_early_stopping_stops_and_restores_like_coursekit(torch, digits):
    """Patience semantics: the script's loop stops at the epoch coursekit's EarlyStopping stops at,
    given the same validation losses, and keeps the best epoch's weights."""
    torch.manual_seed(0)
    patience, epochs = 3, 60
    namespace = tensors(torch, digits)
    # Validation labels unrelated to the images: the validation loss soon rises as the network fits.
    namespace["y_val"] = torch.from_numpy(np.random.default_rng(0).integers(0, 10, len(digits.y_val)))
    exec(pytorch_code({"patience": patience}, lr=0.05, momentum=0.9, batch_size=16, epochs=epochs), namespace)
    val_losses = namespace["val_losses"]
    assert len(val_losses) < epochs, "this run should stop early"

    stopper = EarlyStopping("val_loss", patience=patience)
    stops = [stopper.on_epoch_end(epoch, {"val_loss": loss}) for epoch, loss in enumerate(val_losses)]
    assert stops[-1] and not any(stops[:-1]), "the script must stop exactly where EarlyStopping stops"
    assert namespace["best_epoch"] == stopper.best_epoch == int(np.argmin(val_losses))
    with torch.no_grad():
        restored = torch.nn.functional.cross_entropy(namespace["model"](namespace["X_val"]), namespace["y_val"])
    assert restored.item() == pytest.approx(min(val_losses), rel=1e-6), "the best epoch's weights are restored"


# ---------------------------------------------------------------- PyTorch: augmentation

def augment_functions(torch, spec):
    namespace = {"torch": torch, "nn": torch.nn}
    code = pytorch_code({"augment": spec}, **BUDGET)
    exec(code[code.index("def affine"):code.index("# L2 with") if "# L2 with" in code else code.index("optimizer =")],
         namespace)
    return namespace["affine"], namespace["augment"]


def test_pytorch_affine_is_coursekits_geometry(torch):
    """Rotation, zoom and sub-pixel shift per example: the same images as coursekit.augment.affine."""
    affine, _ = augment_functions(torch, {"degrees": 10})
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 8, 8), dtype=np.float32)
    degrees, dy, dx, scale = rng.uniform(-40, 40, 8), rng.uniform(-2, 2, 8), rng.uniform(-2, 2, 8), rng.uniform(0.7, 1.3, 8)
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    got = affine(torch.from_numpy(x), *map(as_tensor, (degrees, dy, dx, scale))).numpy()
    np.testing.assert_allclose(got, augment.affine(x, degrees, dy, dx, scale), atol=1e-5)
    # whole-pixel shifts are coursekit's translate (zero fill, no wrap-around)
    ones = torch.ones(8)
    got = affine(torch.from_numpy(x), 0 * ones, ones, -2 * ones, ones).numpy()
    np.testing.assert_allclose(got, augment.translate(x, 1, -2), atol=1e-6)


def test_pytorch_augment_draws_per_example_and_applies_flip_and_noise(torch):
    torch.manual_seed(0)
    x = torch.from_numpy(np.repeat(np.random.default_rng(1).random((1, 1, 8, 8), dtype=np.float32), 16, axis=0))
    _, random_affine = augment_functions(torch, {"degrees": 10, "shift": 0.5, "scale": 0.1})
    out = random_affine(x).numpy()
    assert out.shape == x.shape and len({o.tobytes() for o in out}) == 16, "one draw per example"
    assert np.abs(out - x.numpy()).max() > 0.01
    _, flip_only = augment_functions(torch, {"flip": 1.0})
    np.testing.assert_array_equal(flip_only(x).numpy(), augment.flip_horizontal(x.numpy()))
    _, noise_only = augment_functions(torch, {"noise": 0.5})
    assert (noise_only(x) - x).std().item() == pytest.approx(0.5, rel=0.1)


def test_pytorch_training_loop_augments_every_batch(torch, digits):
    """The script calls augment on each training batch: with shift-only augmentation the run differs from the plain one."""
    results = []
    for spec in (None, {"shift": 1.0}):
        torch.manual_seed(0)
        namespace = tensors(torch, digits)
        config = {"augment": spec} if spec else {}
        code = pytorch_code(config, **{**BUDGET, "epochs": 1, "batch_size": 16})
        assert ("xb = augment(xb)" in code) == bool(spec)
        exec(code, namespace)
        results.append(namespace["model"][0].weight.detach().numpy().copy())
    assert not np.allclose(*results)
