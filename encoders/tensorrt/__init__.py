"""TensorRT engine build from the exported ONNX encoders (runs in NVIDIA's TensorRT/Triton container)."""
