"""Kairos item encoders: pretrained text/image models, ONNX/TensorRT export, Triton serving and client."""
