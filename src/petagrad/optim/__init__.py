"""Optimizers layer: SGD, Adam, AdamW, RMSprop, Adagrad, LAMB and learning-rate schedulers,
written against the public petagrad API like user code. Every update is in place
(`Tensor.assign`) with device-side learning rate and step count, so a training step can run
under `petagrad.jit`.
"""
from petagrad.optim import lr_scheduler
from petagrad.optim.adagrad import Adagrad
from petagrad.optim.adam import Adam, AdamW
from petagrad.optim.lamb import LAMB
from petagrad.optim.optimizer import Optimizer, ParamGroup
from petagrad.optim.rmsprop import RMSprop
from petagrad.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Adagrad", "LAMB", "Optimizer", "ParamGroup", "RMSprop",
           "lr_scheduler"]
