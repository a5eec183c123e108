"""ONNX operator families, one module each: elementwise, reduce, shape, nn, quant, control,
rnn. Importing a module registers its operators with petagrad.onnx.registry."""
