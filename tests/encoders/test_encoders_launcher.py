"""Launcher pieces that need no running server: server layout, environment, command line."""

import os
import sys
import sysconfig

from encoders.triton.launcher import LocalTriton
from encoders.triton.server_binary import prepare_server, server_environment
from encoders.triton.settings import LauncherSettings


def test_server_layout_uses_the_bundled_binary_and_the_matching_stub(tmp_path):
    layout = prepare_server(tmp_path)
    assert layout.binary.name == "tritonserver" and os.access(layout.binary, os.X_OK)
    python_backend = layout.backend_dir / "python"
    stub = (python_backend / "triton_python_backend_stub").resolve()
    assert stub.parent.name == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (python_backend / "libtriton_python.so").exists()
    prepare_server(tmp_path)  # idempotent: links are replaced, not duplicated


def test_environment_puts_this_pythons_lib_dir_first(tmp_path, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/other")
    env = server_environment(prepare_server(tmp_path), [tmp_path / "repo"])
    ld = env["LD_LIBRARY_PATH"].split(":")
    assert ld[0] == sysconfig.get_config_var("LIBDIR") and ld[-1] == "/opt/other"
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "repo")
    assert any(p.endswith("site-packages") for p in env["PYTHONPATH"].split(":"))


def test_command_binds_loopback_ports_and_isolates_shared_memory(tmp_path):
    triton = LocalTriton(LauncherSettings(host="127.0.0.1"))
    triton.http_port, triton.grpc_port, triton.metrics_port = 8001, 8002, 8003
    first = triton._command(tmp_path / "bin", tmp_path / "models", tmp_path / "backends")
    second = triton._command(tmp_path / "bin", tmp_path / "models", tmp_path / "backends")
    for flag in (
        "--grpc-port=8002",
        "--http-port=8001",
        "--metrics-port=8003",
        "--allow-metrics=true",
        "--grpc-address=127.0.0.1",
        f"--model-repository={tmp_path / 'models'}",
    ):
        assert flag in first
    shm = [a for a in first if "shm-region-prefix-name" in a]
    assert shm and shm != [a for a in second if "shm-region-prefix-name" in a]  # parallel servers never collide
    assert triton.grpc_url == "127.0.0.1:8002" and triton.metrics_url == "http://127.0.0.1:8003/metrics"


def test_container_side_modules_need_neither_torch_nor_tritonclient():
    """The TensorRT build and the Triton python models run in NVIDIA images without torch or tritonclient."""
    import subprocess

    modules = (
        "encoders.tensorrt.__main__, encoders.tensorrt.builder, encoders.tokenization, "
        "encoders.image_preprocessing, encoders.ort_runtime, encoders.triton.python_models.common"
    )
    code = f"import sys, {modules}; print(sorted({{'torch', 'tritonclient'}} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
