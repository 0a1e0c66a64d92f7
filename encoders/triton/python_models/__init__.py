"""Python-backend models. Each generated ``model.py`` re-exports one ``TritonPythonModel`` from here.

These modules import ``triton_python_backend_utils``, which exists only inside Triton's python backend stub.
"""
