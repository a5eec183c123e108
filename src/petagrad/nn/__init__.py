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
from petagrad.nn.layers import (CELU, GLU, SELU, Conv3d, ConvTranspose1d,  # noqa: F401
                                ConvTranspose3d, Dropout1d, Dropout2d, Dropout3d,
                                Hardshrink, Hardsigmoid, Hardtanh,
                                InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LogSigmoid,
                                Mish, PixelShuffle, PixelUnshuffle, PReLU, ReLU6, Softmin,
                                Softshrink, Softsign, Tanhshrink, Threshold, Unflatten,
                                Upsample, UpsamplingBilinear2d, UpsamplingNearest2d)
from petagrad.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
from petagrad.nn.transformer import (TransformerDecoder, TransformerDecoderLayer,  # noqa: F401
                                     TransformerEncoder, TransformerEncoderLayer)
from petagrad.nn import init, utils  # noqa: F401
from petagrad.nn.module import Module  # noqa: F401
from petagrad.nn import parallel  # noqa: F401  (DistributedDataParallel)
from petagrad.nn.sync_batchnorm import SyncBatchNorm  # noqa: F401
from petagrad.nn.safetensors import load_file, save_file  # noqa: F401
