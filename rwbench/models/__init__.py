"""Denoisers D(x, sigma): the protocol and adapters (VP, VE, IADB), the exact Gaussian-mixture oracle and its
posterior, the model registry, the embedded models the DAG trains and the pretrained loaders."""
