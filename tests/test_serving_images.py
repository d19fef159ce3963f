"""Images over HTTP: a CNN trained on a real image folder, served by `python -m automl serve`,
gets PNG/JPEG files (multipart, a raw image body, base64 in JSON) and Pillow's pixel arrays,
and answers exactly what `python -m automl predict` answers for the same files."""

from __future__ import annotations

import base64
import csv

import numpy as np
import pytest
from helpers import run_cli
from PIL import Image
from serving_fixtures import start_server, write_images

# Each test trains and serves an image model: the heavy tier (.ci/run).
pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def images_server(images_run):
    yield from start_server(images_run)


@pytest.fixture(scope="module")
def new_images(tmp_path_factory, images_run):
    """New PNGs (10 x 10, resized to the trained 8 x 8 by the server) plus one JPEG, and what
    `predict` says about each file."""
    folder = write_images(tmp_path_factory.mktemp("new") / "new", per_class=4, seed=11)
    Image.open(folder / "bright" / "0.png").convert("RGB").save(folder / "bright" / "j.jpg")
    out = run_cli(["predict", str(images_run), str(folder), "-o", str(folder.parent / "p.csv"),
                   "--evaluate"], folder.parent)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    with open(folder.parent / "p.csv", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".png", ".jpg"))
    assert len(rows) == len(files) == 9
    assert {r["prediction"] for r in rows.values()} == {"bright", "dark"}  # both classes
    # --evaluate scores each file against its class sub-folder
    acc = np.mean([r["prediction"] == i.split("/")[0] for i, r in rows.items()])
    assert f"evaluated on 9 labelled rows: acc {acc:.4g}" in out.stdout
    return files, [rows[str(p.relative_to(folder))] for p in files]


def _check(reply, expected) -> None:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["predictions"] == [r["prediction"] for r in expected]
    want = [[float(r["p_bright"]), float(r["p_dark"])] for r in expected]
    np.testing.assert_allclose(body["probabilities"], want, rtol=1e-4, atol=1e-6)


def test_png_and_jpeg_files_get_the_class_predict_gives(images_server, new_images):
    files, expected = new_images
    client = images_server.client
    uploads = [("file", (p.name, p.read_bytes(), "image/png")) for p in files]
    _check(client.post("/predict", files=uploads), expected)
    b64 = [{"b64": base64.b64encode(p.read_bytes()).decode()} for p in files]
    _check(client.post("/predict", json={"instances": b64}), expected)
    url = [{"b64": "data:image/png;base64," + base64.b64encode(files[0].read_bytes()).decode()}]
    _check(client.post("/invocations", json={"instances": url}), expected[:1])
    raw = client.post("/predict", content=files[-1].read_bytes(),
                      headers={"content-type": "image/jpeg"})  # fmt: skip
    _check(raw, expected[-1:])


def test_pillow_pixel_arrays_of_any_size_are_resized_as_training_did(images_server, new_images):
    files, expected = new_images
    grey = [np.asarray(Image.open(p).convert("L")).tolist() for p in files]  # H x W, 10 x 10
    _check(images_server.client.post("/predict", json={"instances": grey}), expected)
    rgb = [np.asarray(Image.open(p).convert("RGB")).tolist() for p in files]  # H x W x 3
    _check(images_server.client.post("/predict", json={"instances": rgb}), expected)


@pytest.mark.parametrize(
    "scale, words",
    [
        (1 / 255, ["between 0 and 1", "multiply them by 255", '"b64"']),
        (-1, ["pixel values from -", "0-255", "not standardized"]),
    ],
)
def test_pixels_on_another_scale_are_refused_with_a_sentence(
    images_server, new_images, scale, words
):
    files, _ = new_images
    pixels = np.asarray(Image.open(files[0]).convert("L"), dtype=np.float64)[None] * scale
    for sample in (pixels[:, :8, :8], pixels[0]):  # the trained 1 x 8 x 8; Pillow's 10 x 10
        reply = images_server.client.post("/predict", json={"instances": [sample.tolist()]})
        assert reply.status_code == 422, reply.text
        error = reply.json()
        assert error["field"] == "instances[0]", error
        for word in words:
            assert word in error["error"], error


def test_bad_image_requests_are_one_line_422s(images_server):
    client = images_server.client
    broken = client.post("/predict", files=[("file", ("x.png", b"not a png", "image/png"))])
    assert broken.status_code == 422
    assert broken.json()["field"] == "files[0]"
    assert "not an image file Pillow can read" in broken.json()["error"]
    bad64 = client.post("/predict", json={"instances": [{"b64": "%%%"}]})
    assert bad64.status_code == 422 and bad64.json()["field"] == "instances[0].b64"
    path = client.post("/predict", json={"instances": ["/etc/passwd"]})
    assert path.status_code == 422 and "not read over HTTP" in path.json()["error"]
    shape = client.post("/predict", json={"instances": [[[[0] * 5] * 7] * 2]})
    assert shape.status_code == 422
    assert "H x W x C" in shape.json()["error"] and "numpy.asarray" in shape.json()["error"]
    empty = client.post("/predict", files={"note": (None, "just a field")})
    assert empty.status_code == 422 and "no file part" in empty.json()["error"]
    meta = client.get("/metadata").json()
    assert meta["pixel_range"] == [0, 255] and "PNG/JPEG" in meta["images"]
