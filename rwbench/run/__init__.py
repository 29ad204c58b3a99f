"""One run from its spec to shards on disk: sampler dispatch (the sampler table's runners), shards, the run
folder layout, provenance and device pinning."""
