"""The gan plugin: Frechet distance, training on digits, save/load, PNG export, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image

from automl.core.errors import PluginError
from automl.core.plugin import DataSpec
from automl.core.registry import discover_data, discover_models
from automl.data import load_dataset
from automl.data.builtin import DigitsConfig, DigitsSeqConfig, TabularConfig
from automl.study import train
from automl.study.config import TrainerConfig

gan_model = pytest.importorskip("automl_plugins.gan_model")
gan_fd = pytest.importorskip("automl_plugins.gan_fd")  # the FD feature network's cache

# One torch thread: on a shared 2-core machine two threads of a tiny model spin-wait.
TRAINER = TrainerConfig(max_epochs=2, accelerator="cpu", num_threads=1)


@pytest.fixture(scope="module")
def plugin():
    return discover_models().get("gan")


@pytest.fixture(scope="module")
def digits():
    return load_dataset(discover_data().get("digits"), DigitsConfig())


@pytest.fixture(scope="module")
def trained(plugin, digits, tmp_path_factory):
    """The default GAN trained 2 epochs on digits and saved (shared: training costs seconds)."""
    directory = tmp_path_factory.mktemp("gan")
    result = train.fit(plugin, plugin.config(), digits, TRAINER, workdir=directory)
    return result, directory


def read_png(path: Path) -> tuple[int, int, str, np.ndarray]:
    """A PNG read back with Pillow: (width, height, mode, pixels)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.width, image.height, image.mode, np.asarray(image)


def untrained_fd(plugin, cfg, digits, trained_model) -> float:
    """Validation FD of a freshly initialized generator, measured with the trained model's
    feature net and data range (everything but the generator and discriminator)."""
    untrained = gan_model.build(cfg, digits.spec)
    untrained.load_state_dict(
        {
            k: v
            for k, v in trained_model.state_dict().items()
            if not k.startswith(("generator.", "generator_ema.", "discriminator."))
        },
        strict=False,
    )
    return train.evaluate(plugin, untrained, digits, TRAINER, split="val")["val_fd"]


# --------------------------------------------------------------------------- Frechet distance


def test_frechet_distance_matches_the_textbook_formula_with_sqrtm():
    from scipy import linalg

    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    diff = a.mean(0) - b.mean(0)
    expected = diff @ diff + np.trace(cov_a + cov_b - 2 * root)
    assert gan_model.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_is_zero_for_equal_sets_and_the_squared_shift_for_a_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 5))
    assert gan_model.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.0, 0.5, 0.0])
    assert gan_model.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)


def test_frechet_distance_stays_finite_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(2)
    # Rank-deficient covariances: sqrtm of their product is where complex parts appear.
    value = gan_model.frechet_distance(rng.normal(size=(5, 32)), rng.normal(size=(7, 32)))
    assert math.isfinite(value) and value >= 0.0


# --------------------------------------------------------------------------- training


def test_contract_declares_fd_minimized_on_labelled_images(plugin, digits):
    assert plugin.objective(digits.spec.task) == ("fd", "minimize")
    assert plugin.default_data == "digits"
    plugin.check_data(digits.spec)


def test_defaults_train_and_lower_fd_below_the_untrained_generator(plugin, digits, trained):
    result, _ = trained
    assert result.epochs == 2
    assert set(result.metrics) == {"val_fd"}
    assert math.isfinite(result.value) and result.value >= 0.0
    # Same feature net, same real images, weights before training: a higher FD.
    assert result.value < untrained_fd(plugin, plugin.config(), digits, result.model)
    # Only the generator and discriminator train; the feature net is frozen.
    trainable = sum(p.numel() for p in result.model.parameters() if p.requires_grad)
    assert result.n_params == trainable
    assert not any(p.requires_grad for p in result.model.feature_net.parameters())


def test_a_good_configuration_drives_fd_far_below_the_untrained_generator(plugin, digits):
    cfg = replace(plugin.config(), conditional=True, lr=1e-3, width=32)
    result = train.fit(plugin, cfg, digits, replace(TRAINER, max_epochs=3))
    # Measured: ~170-300 after 3 epochs (seeds 0-2) against ~2,400 before training.
    assert result.value < 0.3 * untrained_fd(plugin, cfg, digits, result.model)


def test_feature_net_is_trained_once_per_data_set_and_classifies_held_out_digits(
    plugin, digits, trained
):
    result, _ = trained
    x, y = torch.as_tensor(digits.train.x), torch.as_tensor(digits.train.y)
    size = len(gan_fd._FEATURE_CACHE)
    # A cache hit: the trial trained it on the data set's reference rows (the holdout's).
    cached = gan_model.feature_net_for_data(digits.spec.fingerprint, x[:10], y[:10], 10)
    assert len(gan_fd._FEATURE_CACHE) == size
    assert gan_model.feature_net_for(x, y, 10, key=digits.spec.fingerprint) is cached
    for name, value in result.model.feature_net.state_dict().items():
        assert torch.equal(value, cached[name])
    with torch.no_grad():
        pred = result.model.feature_net(torch.as_tensor(digits.val.x)).argmax(1).numpy()
    assert (pred == digits.val.y).mean() > 0.9


def test_folds_and_the_refit_measure_fd_with_one_feature_network(plugin):
    """The FD instrument is fixed per data set: every fold and the refit on merged rows (in
    this process, or trained again in a fresh one) use the same network, so fold FDs can be
    averaged and the test FD after a refit compares with validation FDs."""
    folded = load_dataset(discover_data().get("digits"), DigitsConfig(folds=3))
    cfg = replace(plugin.config(), arch="mlp", width=16)
    one_epoch = replace(TRAINER, max_epochs=1)
    nets = [train.fit(plugin, cfg, fold, one_epoch).model.feature_net for fold in folded.folds]
    merged = folded.merged()
    gan_fd._FEATURE_CACHE.clear()  # as a fresh process that only refits would start
    nets.append(train.refit(plugin, cfg, merged, one_epoch, {"epochs": 1}).model.feature_net)
    assert len({f.spec.fingerprint for f in [*folded.folds, merged]}) == 1
    first = nets[0].state_dict()
    for net in nets[1:]:
        for name, value in net.state_dict().items():
            assert torch.equal(value, first[name]), name
    # ...and it is not the network of any fold's own training rows.
    fold_1 = folded.folds[1]
    own = gan_model.feature_net_for(
        torch.as_tensor(fold_1.train.x), torch.as_tensor(fold_1.train.y), 10
    )
    assert not all(torch.equal(v, first[k]) for k, v in own.items())


def test_training_steps_do_not_wait_for_the_device(plugin, digits):
    """No host-device sync per step: no tensor read back (``.item()``/``int()`` is
    ``aten._local_scalar_dense``) in the EMA update, and noise drawn on the module's device
    rather than copied to it (checked on the ``meta`` device, where a copy is visible)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.append(str(func))
            return func(*args, **(kwargs or {}))

    module = gan_model.build(replace(plugin.config(), ema=0.99), digits.spec)
    module._ema_step = 5
    with Ops() as ops:
        for _ in range(3):
            module._update_ema()
    assert not [op for op in ops.seen if "_local_scalar_dense" in op], ops.seen
    assert module._ema_step == 8 and int(module.ema_steps) == 3  # the buffer still counts

    module.to("meta")
    with Ops() as ops:
        z = module.noise(16)
    assert z.device.type == "meta" and z.shape == (16, module.cfg.latent_dim)
    assert not [op for op in ops.seen if "copy" in op], ops.seen


def test_save_load_gives_identical_samples_and_test_fd_without_a_fit(plugin, digits, trained):
    result, directory = trained
    loaded = train.load_model(plugin, directory, plugin.config(), digits.spec)
    assert torch.equal(loaded.sample(16, seed=7), result.model.sample(16, seed=7))
    assert not torch.equal(loaded.sample(16, seed=7), loaded.sample(16, seed=8))
    # evaluate() runs trainer.validate on a fresh Trainer: no fit, no training data.
    test_loaded = train.evaluate(plugin, loaded, digits, TRAINER)
    test_trained = train.evaluate(plugin, result.model, digits, TRAINER)
    assert set(test_loaded) == {"test_fd"}
    assert test_loaded["test_fd"] == pytest.approx(test_trained["test_fd"], rel=1e-5)


def test_validation_of_a_never_trained_model_says_what_to_do(plugin, digits):
    fresh = gan_model.build(plugin.config(), digits.spec)
    with pytest.raises(RuntimeError, match="feature network is not trained: fit the model"):
        train.evaluate(plugin, fresh, digits, TRAINER)


def test_conditional_mlp_with_hinge_and_spectral_norm_trains(plugin, digits):
    cfg = replace(
        plugin.config(),
        arch="mlp",
        conditional=True,
        loss="hinge",
        spectral_norm=True,
        d_dropout=0.2,
        width=32,
    )
    result = train.fit(plugin, cfg, digits, replace(TRAINER, max_epochs=1))
    assert math.isfinite(result.value)
    model = result.model
    assert model.discriminator.embed is not None
    labels = torch.tensor([3, 3, 7])
    same = model.sample(3, labels, seed=0)
    other = model.sample(3, torch.tensor([1, 1, 1]), seed=0)
    assert same.shape == (3, 1, 8, 8)
    assert not torch.equal(same, other)  # the label changes the image for the same noise
    # Pixels stay inside the training data's range.
    assert same.min() >= model.data_low.min() and same.max() <= model.data_high.max()


@pytest.mark.parametrize("shape", [(1, 7, 9), (3, 6, 6), (1, 28, 28)])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_networks_fit_any_image_size(plugin, shape, arch):
    spec = DataSpec(name="imgs", task="classification", input_shape=shape, n_classes=4)
    cfg = replace(plugin.config(), arch=arch, conditional=True, width=8, spectral_norm=True)
    module = gan_model.build(cfg, spec)
    labels = torch.tensor([0, 1, 2, 3])
    images = module(module.noise(4, seed=0), labels)
    assert images.shape == (4, *shape)
    assert module.discriminator(images, labels).shape == (4,)
    assert module.feature_net.features(images).shape == (4, gan_model.FEATURE_DIM)


# --------------------------------------------------------------------------- data checks


@pytest.mark.parametrize(
    ("name", "cfg", "rank"),
    [("digits_seq", DigitsSeqConfig(), 2), ("breast_cancer", TabularConfig(), 1)],
)
def test_non_image_data_is_rejected(plugin, name, cfg, rank):
    data = load_dataset(discover_data().get(name), cfg)
    with pytest.raises(PluginError, match=rf"rank 3.*'{name}'.*rank {rank}"):
        plugin.check_data(data.spec)


# --------------------------------------------------------------------------- export


def test_export_writes_a_10x10_png_grid(plugin, digits, trained, tmp_path):
    result, _ = trained
    path = gan_model.export(result.model, str(tmp_path), digits.spec)
    assert Path(path) == tmp_path / "samples.png"
    width, height, mode, pixels = read_png(Path(path))
    # 8x8 digits are upscaled x4 to 32 px tiles, with 2 px of padding between and around.
    assert (width, height, mode) == (342, 342, "L")
    assert pixels[:2].max() == 0  # top padding
    tile = pixels[2:34, 2:34]
    assert tile.std() > 0  # an image, not a blank tile
    # Nearest-neighbour upscaling: each 4x4 block is one generated pixel.
    assert (tile.reshape(8, 4, 8, 4) == tile[::4, ::4][:, None, :, None]).all()


def test_png_writer_round_trips_rgb():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"automl-test-{os.getpid()}.png"
    try:
        gan_model.write_png(path, pixels)
        width, height, mode, rows = read_png(path)
    finally:
        path.unlink(missing_ok=True)
    assert (width, height, mode) == (7, 5, "RGB")
    np.testing.assert_array_equal(rows, pixels)
    assert not list(path.parent.glob(f".{path.name}.*"))  # the temporary file was renamed


def test_spec_module_does_not_import_torch():
    code = "import sys, automl_plugins.gan; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_cli_study_end_to_end_exports_samples(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(
        [
            "model=gan",
            "sweep.n_trials=2",
            "trainer.max_epochs=2",
            "trainer.num_threads=1",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert len(board["trials"]) == 2
    metrics = json.loads((run_dir / "best" / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["test_fd"])
    assert read_png(run_dir / "best" / "samples.png")[:3] == (342, 342, "L")


# --------------------------------------------------------------------------- weight averaging


def test_generator_ema_follows_the_ramped_decay(plugin, digits):
    module = gan_model.build(replace(plugin.config(), ema=0.99), digits.spec)
    averaged = [p.detach().clone() for p in module.generator_ema.parameters()]
    with torch.no_grad():
        for p in module.generator.parameters():
            p.add_(1.0)  # as if an optimizer step moved every weight by one
    module._update_ema()
    # step 0: decay = min(0.99, 1 / 10) = 0.1, so the average moves 90% of the way
    for before, now, live in zip(
        averaged, module.generator_ema.parameters(), module.generator.parameters(), strict=True
    ):
        torch.testing.assert_close(now, 0.1 * before + 0.9 * live)
    assert int(module.ema_steps) == 1
    assert not any(p.requires_grad for p in module.generator_ema.parameters())


def test_samples_come_from_the_averaged_generator_and_ema_zero_disables_it(plugin, digits):
    module = gan_model.build(replace(plugin.config(), ema=0.99), digits.spec)
    with torch.no_grad():
        for p in module.generator.parameters():
            p.mul_(3.0)  # the live generator now differs from its (initial) average
    z = module.noise(8, seed=0)
    module.eval()
    assert torch.equal(module(z), module._images(module.generator_ema, z, None))
    assert not torch.equal(module(z), module._images(module.generator, z, None))
    plain = gan_model.build(replace(plugin.config(), ema=0.0), digits.spec)
    assert plain.generator_ema is None
    assert not any(k.startswith("generator_ema.") for k in plain.state_dict())


def test_trained_model_saves_its_averaged_generator(trained):
    result, directory = trained
    state = torch.load(directory / "model.pt", weights_only=True)
    assert int(state["ema_steps"]) > 0  # one update per generator step
    assert any(k.startswith("generator_ema.") for k in state)


def test_a_gan_is_a_generator_and_is_never_asked_to_predict(plugin, digits, trained, tmp_path):
    """The backend decides generator vs predictor once (a `sample` method). A GAN trial gets
    no latency measurement: timing `predict` fed it images as noise and failed every trial."""
    from helpers import compose

    from automl.backends import backend_for
    from automl.core.plugin import resolve
    from automl.study.plan import make_plan
    from automl.study.run import prepare

    result, _ = trained
    backend = backend_for(plugin, TRAINER)
    cnn = discover_models().get("cnn")
    classifier = resolve(cnn.build)(cnn.config(), digits.spec)
    assert backend.generates(result.model) and not backend.generates(classifier)
    models, datas = discover_models(), discover_data()
    cfg = compose(["model=gan", "data=digits", "trainer=fast"], models, datas)
    run = prepare(make_plan(cfg, "gan", "digits", models, datas, tmp_path, []), preflight=False)
    assert run.services.latency(run.services.family(), result.model) is None
