"""The machine and how a model runs on it: hardware probes, the execution plan, batching, CUDA speed-ups."""
