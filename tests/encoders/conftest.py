"""Fixtures of the encoder tests: ONNX exports, in-process encoders, images, one local Triton per session."""

from __future__ import annotations

import contextlib
import csv
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from encoders.artifacts import OnnxArtifacts, ensure_onnx_artifacts
from encoders.inprocess import InProcessEncoders
from encoders.settings import EncoderSettings
from encoders.triton.launcher import LocalTriton
from encoders.triton.settings import LauncherSettings
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def encoder_settings() -> EncoderSettings:
    return EncoderSettings()


@pytest.fixture(scope="session")
def onnx_artifacts(encoder_settings: EncoderSettings) -> OnnxArtifacts:
    """Exports cached under build/ by content hash: exported once per checkout, reused afterwards."""
    s = encoder_settings
    return ensure_onnx_artifacts(s.build_dir / "onnx-cache", s.onnx_opset, s.image_size)


@pytest.fixture(scope="session")
def inprocess(encoder_settings: EncoderSettings, onnx_artifacts: OnnxArtifacts) -> InProcessEncoders:
    return InProcessEncoders(encoder_settings)


def encode_image(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def synthetic_images() -> list[bytes]:
    """Three distinct real JPEG/PNG files (gradients and noise) of different sizes."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 300, dtype=np.uint8)
    gradient = np.stack([np.tile(ramp, (200, 1)), np.tile(ramp[::-1], (200, 1)), np.full((200, 300), 90, np.uint8)], -1)
    noise = rng.integers(0, 256, (150, 120, 3), dtype=np.uint8)
    stripes = np.zeros((224, 224, 3), np.uint8)
    stripes[::8] = (255, 40, 0)
    return [encode_image(gradient, "JPEG"), encode_image(noise, "PNG"), encode_image(stripes, "PNG")]


@pytest.fixture(scope="session")
def poster_images(encoder_settings: EncoderSettings) -> list[bytes]:
    """A few real movie posters from the dataset."""
    folder = encoder_settings.data_dir / "images"
    if not folder.is_dir():
        pytest.skip(f"dataset images not found at {folder} (set KAIROS_ENCODERS_DATA_DIR)")
    return [(folder / f"{i}.jpg").read_bytes() for i in (1, 2, 3, 4)]


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTriton]:
    """The real bundled tritonserver with the python-flavour repository, started once per session."""
    server = LocalTriton(LauncherSettings(workspace=tmp_path_factory.mktemp("triton")))
    server.start()
    yield server
    assert server.stop() == 0, f"tritonserver did not exit cleanly; see {server.log_path}"


class TcpForwarder:
    """A real TCP relay from a fixed loopback port to a target; ``stop()`` makes the port refuse connections.

    Lets tests take a live Triton "down" and "up" again on the same address without restarting it.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def forwarder(triton: LocalTriton) -> Iterator[TcpForwarder]:
    relay = TcpForwarder((triton.settings.host, triton.grpc_port))
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture
def unused_address() -> str:
    """host:port where nothing listens (bound then released)."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def make_items_csv():
    """Write an items.csv (dataset columns) into a folder and return its path."""

    def write(folder: Path, rows: list[dict[str, str]]) -> Path:
        path = folder / "items.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["item_id", "title", "year", "genres", "plot", "image"])
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write
