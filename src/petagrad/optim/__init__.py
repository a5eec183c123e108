"""Optimizers layer: SGD, Adam, AdamW, RMSprop and learning-rate schedulers, written against
the public petagrad API like user code. Every update is in place (`Tensor.assign`) with
device-side learning rate and step count, so a training step can run under `petagrad.jit`.
"""
from petagrad.optim import lr_scheduler
from petagrad.optim.adam import Adam, AdamW
from petagrad.optim.optimizer import Optimizer, ParamGroup
from petagrad.optim.rmsprop import RMSprop
from petagrad.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "ParamGroup", "RMSprop", "lr_scheduler"]
