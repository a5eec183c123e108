"""nn layer: neural-network building blocks written against petagrad's public API:
`functional` (stateless ops), `Module` and the standard layers, safetensors I/O."""
from petagrad.nn import functional  # noqa: F401
from petagrad.nn.layers import (ELU, GELU, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d,  # noqa
                                BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d,
                                CrossEntropyLoss, Dropout, Embedding, Flatten, GroupNorm,
                                Hardswish, Identity, LayerNorm, LeakyReLU, Linear,
                                LogSoftmax, MaxPool2d, ModuleList, MSELoss,
                                MultiheadAttention, ReLU, Sequential, Sigmoid, SiLU, Softmax,
                                Softplus, Tanh)
from petagrad.nn.module import Module  # noqa: F401
from petagrad.nn.safetensors import load_file, save_file  # noqa: F401
