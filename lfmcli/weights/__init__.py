"""The packaged default models (default_lfm.safetensors, default_spacetime.safetensors).

``python -m lfmcli.weights RUN_CHECKPOINT TARGET --minutes M`` packages a trained checkpoint: it keeps the weights
and config, and adds to the metadata what it was trained on, the hardware and the time it took.
"""
